// sluice loads @kubernetes/client-node's legacy auth providers and proxy agents only when a
// kubeconfig needs them (src/sources/kubernetes/client-node-config.ts): these kubeconfigs must
// still work exactly as with the real modules loaded up front.

import { expect } from 'chai';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RequestOptions } from 'node:https';
import { KubeClient, loadKubeConfig } from '../../src/sources/kubernetes/kube-client.ts';
import { listenOnLoopback } from '../helpers/loopback.ts';
import { kubeconfig } from '../helpers/kubeconfig.ts';

/** An unsigned JWT that expires in an hour: the OIDC provider uses it without asking the issuer. */
function idToken(): string {
  const part = (o: object): string => Buffer.from(JSON.stringify(o)).toString('base64url');
  return `${part({ alg: 'none', typ: 'JWT' })}.${part({ iss: 'https://127.0.0.1:1', exp: Math.floor(Date.now() / 1000) + 3600 })}.sig`;
}

describe('Kubernetes credentials through lazily loaded client-node modules', () => {
  let dir: string;
  let server: Server | undefined;
  beforeEach(() => { dir = mkdtempSync(join(tmpdir(), 'sluice-kubeconfig-')); });
  afterEach(async () => {
    rmSync(dir, { recursive: true, force: true });
    await new Promise((resolve) => (server ? server.close(resolve) : resolve(undefined)));
    server = undefined;
  });

  function load(cluster: string[], user: string[]): ReturnType<typeof loadKubeConfig> {
    const file = join(dir, 'config');
    writeFileSync(file, kubeconfig(cluster, user));
    return loadKubeConfig({ kubeconfig: file }, {});
  }

  /** The request options the kube client starts each request from. */
  async function requestOptions(cluster: string[], user: string[]): Promise<RequestOptions> {
    const options: RequestOptions = {};
    await load(cluster, user).kc.applyToHTTPSOptions(options);
    return options;
  }

  it('applies an OIDC auth-provider token (openid-client loaded on first use)', async () => {
    const token = idToken();
    const options = await requestOptions(['server: https://127.0.0.1:6443'], [
      'auth-provider:', '  name: oidc', '  config:', `    id-token: ${token}`, '    client-id: sluice', '    idp-issuer-url: https://127.0.0.1:1',
    ]);
    expect((options.headers as Record<string, string> | undefined)?.Authorization).to.equal(`Bearer ${token}`);
  });

  it('leaves a token user to the token, not to an auth provider', async () => {
    const options = await requestOptions(['server: https://127.0.0.1:6443'], ['token: abc']);
    expect((options.headers as Record<string, string> | undefined)?.Authorization).to.equal('Bearer abc');
  });

  it('connects through a SOCKS5 proxy-url (socks loaded on first connection)', async () => {
    // A SOCKS5 proxy that answers the greeting and refuses the connect: proof the real client spoke to it.
    let greeted = false;
    server = createServer((socket) => {
      socket.once('data', (greeting: Buffer) => {
        greeted = greeting[0] === 5;
        socket.write(Buffer.from([5, 0]));
        socket.once('data', () => socket.end(Buffer.from([5, 5, 0, 1, 0, 0, 0, 0, 0, 0])));
      });
    });
    const port = await listenOnLoopback(server);
    const { kc, info } = load(['server: http://127.0.0.1:6443', 'insecure-skip-tls-verify: true', `proxy-url: socks5://127.0.0.1:${port}`], ['token: abc']);
    const client = new KubeClient(kc, info);
    let error: unknown;
    try {
      await client.getJson('/api', {}, new AbortController().signal);
    } catch (err) {
      error = err;
    } finally {
      await client.close();
    }
    expect(greeted, 'the proxy got a SOCKS5 greeting').to.equal(true);
    expect(String((error as Error | undefined)?.message)).to.match(/Socks5 proxy rejected connection|connection refused/i);
  });
});
