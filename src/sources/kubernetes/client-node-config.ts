// Only the parts of @kubernetes/client-node that sluice uses: KubeConfig (credentials: token
// files, exec plugins, client certificates, proxies, as kubectl resolves them). The
// package's index, and config.js through one import, load its whole generated API (every model
// and API class): 46 MB more RSS, measured (bare Node 24 + index 125 MB; these modules 79 MB).
// config.js needs the generated API only for makeApiClient(), which sluice never calls, so that
// one import is answered with a stub while these modules load.

import { registerHooks } from 'node:module';
import type * as ConfigModule from '@kubernetes/client-node/dist/config.js';

const GENERATED_API_STUB = moduleFrom([
  "const unused = () => { throw new Error('sluice loads @kubernetes/client-node without its generated API client'); };",
  'export const createConfiguration = unused;',
  'export class ServerConfiguration { constructor() { unused(); } }',
]);

/** A module's source as an import specifier. */
function moduleFrom(lines: string[]): string {
  return 'data:text/javascript,' + encodeURIComponent(lines.join('\n'));
}

/**
 * undici for these modules: config.js needs Agent and ProxyAgent, other modules fetch (never
 * called by sluice). The package index also loads fetch, WebSocket, cache and mock code: 5.5 MB
 * more RSS, measured with these modules alone.
 */
function undiciShim(parentURL: string): string {
  return moduleFrom([
    "import { createRequire } from 'node:module';",
    `const require = createRequire(${JSON.stringify(parentURL)});`,
    "export const Agent = require('undici/lib/dispatcher/agent.js');",
    "export const ProxyAgent = require('undici/lib/dispatcher/proxy-agent.js');",
    "export const fetch = (...args) => require('undici').fetch(...args);",
  ]);
}

/**
 * config.js imports every legacy auth provider and every proxy agent up front; a kubeconfig uses
 * one of them at most, in-cluster credentials none. These stand-ins load the real module when a
 * kubeconfig first needs it (9 MB of RSS otherwise: openid-client and jose, socks, hpagent).
 * Auth providers are picked by `user.authProvider.name`, as the real isAuthProvider() does.
 */
const AUTH_PROVIDERS: Record<string, { exportName: string; providerName: string }> = {
  './oidc_auth.js': { exportName: 'OpenIDConnectAuth', providerName: 'oidc' },
  './azure_auth.js': { exportName: 'AzureAuth', providerName: 'azure' },
  './gcp_auth.js': { exportName: 'GoogleCloudPlatformAuth', providerName: 'gcp' },
};

function lazyAuthProvider(specifier: string, parentURL: string): string {
  const { exportName, providerName } = AUTH_PROVIDERS[specifier];
  return moduleFrom([
    `export class ${exportName} {`,
    `  isAuthProvider(user) { return user?.authProvider?.name === ${JSON.stringify(providerName)}; }`,
    '  async applyAuthentication(user, opts) {',
    `    this.real ??= new (await import(${JSON.stringify(new URL(specifier, parentURL).href)})).${exportName}();`,
    '    return this.real.applyAuthentication(user, opts);',
    '  }',
    '}',
  ]);
}

/** Proxy agents, constructed only for a cluster with proxy-url: loaded then, synchronously. */
const PROXY_MODULES: Record<string, string[]> = {
  'socks-proxy-agent': ['class SocksProxyAgent'],
  hpagent: ['class HttpProxyAgent', 'class HttpsProxyAgent'],
  socks: ['object SocksClient'],
};

function lazyProxyModule(specifier: string, parentURL: string): string {
  const lines = ["import { createRequire } from 'node:module';", `const require = createRequire(${JSON.stringify(parentURL)});`];
  for (const entry of PROXY_MODULES[specifier]) {
    const [kind, name] = entry.split(' ');
    const real = `(require(${JSON.stringify(specifier)}).${name})`;
    lines.push(kind === 'class'
      ? `export class ${name} { constructor(...args) { return new ${real}(...args); } }`
      : `export const ${name} = new Proxy({}, { get: (_target, key) => ${real}[key] });`);
  }
  return moduleFrom(lines);
}

const hooks = registerHooks({
  resolve(specifier, context, next) {
    const parent = context.parentURL;
    if (specifier === './gen/index.js' && parent?.endsWith('/@kubernetes/client-node/dist/config.js')) {
      return { url: GENERATED_API_STUB, shortCircuit: true };
    }
    if (parent?.includes('/@kubernetes/client-node/dist/')) {
      if (specifier === 'undici') return { url: undiciShim(parent), shortCircuit: true };
      if (specifier in AUTH_PROVIDERS && parent.endsWith('/dist/config.js')) return { url: lazyAuthProvider(specifier, parent), shortCircuit: true };
      if (specifier in PROXY_MODULES) return { url: lazyProxyModule(specifier, parent), shortCircuit: true };
    }
    return next(specifier, context);
  },
});
let config: typeof ConfigModule;
try {
  config = await import('@kubernetes/client-node/dist/config.js');
} finally {
  hooks.deregister();
}

export const { KubeConfig } = config;
export type KubeConfig = ConfigModule.KubeConfig;
