// Only the parts of @kubernetes/client-node that sluice uses: KubeConfig (credentials: token
// files, exec plugins, client certificates, as kubectl resolves them) and RequestContext. The
// package's index, and config.js through one import, load its whole generated API (every model
// and API class): 46 MB more RSS, measured (bare Node 24 + index 125 MB; these modules 79 MB).
// config.js needs the generated API only for makeApiClient(), which sluice never calls, so that
// one import is answered with a stub while these modules load.

import { registerHooks } from 'node:module';
import type * as ConfigModule from '@kubernetes/client-node/dist/config.js';
import type * as HttpModule from '@kubernetes/client-node/dist/gen/http/http.js';

const GENERATED_API_STUB = 'data:text/javascript,' + encodeURIComponent([
  "const unused = () => { throw new Error('sluice loads @kubernetes/client-node without its generated API client'); };",
  'export const createConfiguration = unused;',
  'export class ServerConfiguration { constructor() { unused(); } }',
].join('\n'));

const hooks = registerHooks({
  resolve(specifier, context, next) {
    if (specifier === './gen/index.js' && context.parentURL?.endsWith('/@kubernetes/client-node/dist/config.js')) {
      return { url: GENERATED_API_STUB, shortCircuit: true };
    }
    return next(specifier, context);
  },
});
let config: typeof ConfigModule;
let http: typeof HttpModule;
try {
  config = await import('@kubernetes/client-node/dist/config.js');
  http = await import('@kubernetes/client-node/dist/gen/http/http.js');
} finally {
  hooks.deregister();
}

export const { KubeConfig } = config;
export type KubeConfig = ConfigModule.KubeConfig;
export const { RequestContext, HttpMethod } = http;
