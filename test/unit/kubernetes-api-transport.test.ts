// The kube client's transport (Node's http/https client): credentials from the kubeconfig on
// every request, connections kept alive, each failure with the code and sentence discovery
// shows, and nothing left open. Real servers on 127.0.0.1; a real API server is the cluster suite's.

import { expect } from 'chai';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import https from 'node:https';
import type { TLSSocket } from 'node:tls';
import { connect, createServer as createNetServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describeFailure } from '../../src/sources/kubernetes/api-errors.ts';
import { KubeApiError, KubeClient, loadKubeConfig, type KubeClientLimits } from '../../src/sources/kubernetes/kube-client.ts';
import { makeCa, makeLeaf, type CertFiles } from '../helpers/certs.ts';
import { eventually } from '../helpers/eventually.ts';
import { listenOnLoopback, trackSockets } from '../helpers/loopback.ts';
import { kubeconfig } from '../helpers/kubeconfig.ts';

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

const subject = (server: string) => ({ verb: 'list' as const, resource: 'endpointslices', group: 'discovery.k8s.io', namespace: 'shop', server, credentials: 'kubeconfig' });

async function failureOf(promise: Promise<unknown>): Promise<Error & { code?: string }> {
  try {
    await promise;
  } catch (err) {
    return err as Error & { code?: string };
  }
  throw new Error('expected a failure');
}

describe('Kubernetes API transport (node:https, kubeconfig credentials)', function () {
  this.timeout(20_000);
  let dir: string;
  let ca: CertFiles;
  let serverCert: CertFiles;
  let clientCert: CertFiles;
  let servers: Server[] = [];
  let sockets: Set<Socket>;
  let clients: KubeClient[] = [];

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'sluice-kube-transport-'));
    ca = makeCa(dir, 'ca');
    serverCert = makeLeaf(dir, ca, 'apiserver');
    clientCert = makeLeaf(dir, ca, 'sluice-user', 'client');
  });
  after(() => rmSync(dir, { recursive: true, force: true }));
  beforeEach(() => { sockets = new Set(); });
  afterEach(async () => {
    await Promise.all(clients.map((c) => c.close()));
    clients = [];
    for (const s of sockets) s.destroy();
    await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
    servers = [];
  });

  async function serveHttps(handler: Handler, options: https.ServerOptions = {}): Promise<string> {
    const server = https.createServer({ cert: readFileSync(serverCert.cert), key: readFileSync(serverCert.key), ...options }, handler);
    servers.push(server);
    trackSockets(server, sockets);
    return `https://127.0.0.1:${await listenOnLoopback(server)}`;
  }

  async function serveHttp(handler: Handler): Promise<string> {
    const server = http.createServer(handler);
    servers.push(server);
    trackSockets(server, sockets);
    return `http://127.0.0.1:${await listenOnLoopback(server)}`;
  }

  function client(server: string, user: string[] = ['token: abc'], cluster: string[] = [], limits: Partial<KubeClientLimits> = {}): KubeClient {
    const file = join(dir, `config-${Math.random().toString(36).slice(2)}`);
    const tls = server.startsWith('https:') ? [`certificate-authority: ${ca.cert}`] : ['insecure-skip-tls-verify: true'];
    writeFileSync(file, kubeconfig([`server: ${server}`, ...tls, ...cluster], user));
    const { kc, info } = loadKubeConfig({ kubeconfig: file }, {});
    const c = new KubeClient(kc, info, 'sluice-test', limits);
    clients.push(c);
    return c;
  }

  const signal = (): AbortSignal => new AbortController().signal;

  it('lists and watches over TLS with the kubeconfig\'s CA and token, on one kept-alive connection', async () => {
    const seen: { url: string; auth?: string; agent?: string; port: number }[] = [];
    const server = await serveHttps((req, res) => {
      seen.push({ url: req.url!, auth: req.headers.authorization, agent: req.headers['user-agent'], port: req.socket.remotePort! });
      if (req.url!.includes('watch=1')) {
        res.write('{"type":"ADDED","object":{"metadata":{"name":"a"}}}\n{"type":"BOOK');
        setTimeout(() => res.end('MARK","object":{}}\n'), 50);
      } else {
        res.end(JSON.stringify({ items: [], metadata: { resourceVersion: '7' } }));
      }
    });
    const c = client(server);
    const list = await c.getJson<{ metadata: { resourceVersion: string } }>('/api/v1/namespaces/shop/endpoints', { labelSelector: 'a=b' }, signal());
    expect(list.metadata.resourceVersion).to.equal('7');
    const lines: string[] = [];
    for await (const line of await c.watch('/api/v1/namespaces/shop/endpoints', { resourceVersion: '7' }, signal())) lines.push(line);
    expect(lines).to.deep.equal(['{"type":"ADDED","object":{"metadata":{"name":"a"}}}', '{"type":"BOOKMARK","object":{}}']);
    expect(seen.map((s) => s.url)).to.deep.equal(['/api/v1/namespaces/shop/endpoints?labelSelector=a%3Db', '/api/v1/namespaces/shop/endpoints?resourceVersion=7&watch=1']);
    expect(seen.map((s) => s.auth)).to.deep.equal(['Bearer abc', 'Bearer abc']);
    expect(seen[0].agent).to.equal('sluice-test');
    expect(seen[1].port, 'the same connection').to.equal(seen[0].port);
  });

  it('presents the kubeconfig\'s client certificate, and sends tls-server-name as SNI', async () => {
    let servername: string | undefined;
    let peer: string | undefined;
    const server = await serveHttps((req, res) => {
      peer = (req.socket as TLSSocket).getPeerCertificate().subject?.CN as string | undefined;
      res.end('{}');
    }, { requestCert: true, rejectUnauthorized: true, ca: readFileSync(ca.cert), SNICallback: (name, cb) => { servername = name; cb(null, undefined); } });
    const c = client(server, [`client-certificate: ${clientCert.cert}`, `client-key: ${clientCert.key}`], ['tls-server-name: localhost']);
    await c.getJson('/api', {}, signal());
    expect(peer).to.equal('sluice-user');
    expect(servername).to.equal('localhost');
  });

  it('goes through an HTTP CONNECT proxy-url, verifying the API server with the kubeconfig\'s CA', async () => {
    const server = await serveHttps((req, res) => res.end(JSON.stringify({ auth: req.headers.authorization })));
    const tunnels: string[] = [];
    const proxy = http.createServer();
    proxy.on('connect', (req: IncomingMessage, socket: Socket, head: Buffer) => {
      tunnels.push(req.url!);
      const [host, port] = req.url!.split(':');
      const upstream = connect(Number(port), host, () => {
        socket.write('HTTP/1.1 200 Connection Established\r\n\r\n');
        upstream.write(head);
        upstream.pipe(socket).pipe(upstream);
      });
      upstream.on('error', () => socket.destroy());
      socket.on('error', () => upstream.destroy());
    });
    servers.push(proxy);
    trackSockets(proxy, sockets);
    const proxyPort = await listenOnLoopback(proxy);
    const c = client(server, undefined, [`proxy-url: http://127.0.0.1:${proxyPort}`]);
    expect(await c.getJson('/api', {}, signal())).to.deep.equal({ auth: 'Bearer abc' });
    expect(tunnels).to.deep.equal([new URL(server).host]);
  });

  it('runs an exec plugin again once its token has expired', async () => {
    const auths: (string | undefined)[] = [];
    const server = await serveHttps((req, res) => {
      auths.push(req.headers.authorization);
      res.end('{}');
    });
    const counter = join(dir, 'exec-count');
    writeFileSync(counter, '0');
    const script = `n=$(($(cat ${counter}) + 1)); echo $n > ${counter}; printf '{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"exec-%s","expirationTimestamp":"2000-01-01T00:00:00Z"}}' $n`;
    const c = client(server, ['exec:', '  apiVersion: client.authentication.k8s.io/v1', '  command: sh', '  args:', '  - -c', `  - ${JSON.stringify(script)}`, '  interactiveMode: Never']);
    await c.getJson('/api', {}, signal());
    await c.getJson('/api', {}, signal());
    expect(auths).to.deep.equal(['Bearer exec-1', 'Bearer exec-2']);
  });

  it('throws KubeApiError with the Status the API server sent', async () => {
    const server = await serveHttps((_req, res) => {
      res.writeHead(403, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ kind: 'Status', reason: 'Forbidden', message: 'endpoints is forbidden: User "x" cannot list' }));
    });
    const c = client(server);
    const list = await failureOf(c.getJson('/api/v1/endpoints', {}, signal()));
    expect(list).to.be.instanceOf(KubeApiError);
    expect(list).to.include({ status: 403, reason: 'Forbidden', apiMessage: 'endpoints is forbidden: User "x" cannot list' });
    const watch = await failureOf(c.watch('/api/v1/endpoints', {}, signal()));
    expect(watch).to.include({ status: 403, reason: 'Forbidden' });
  });

  it('gives up on a certificate the kubeconfig\'s CA did not sign', async () => {
    const other = makeCa(dir, 'other-ca');
    const stranger = makeLeaf(dir, other, 'stranger');
    const server = await serveHttps((_req, res) => res.end('{}'), { cert: readFileSync(stranger.cert), key: readFileSync(stranger.key) });
    const err = await failureOf(client(server).getJson('/api', {}, signal()));
    const failure = describeFailure(err, subject(server));
    expect(failure.hopeless).to.equal(true);
    expect(failure.message).to.match(/^cannot trust the TLS certificate of the Kubernetes API server at https:\/\/127\.0\.0\.1:\d+ \((UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT_LOCALLY)\)/);
  });

  it('says "connection refused" when nothing listens', async () => {
    const server = await serveHttp(() => {});
    await new Promise((resolve) => servers.pop()!.close(resolve));
    const err = await failureOf(client(server).getJson('/api', {}, signal()));
    expect(err.code).to.equal('ECONNREFUSED');
    expect(describeFailure(err, subject(server)).message).to.equal(`cannot reach the Kubernetes API server at ${server} (connection refused)`);
  });

  it('says "the connection was closed" when the server closes it before answering, and "reset" for a reset', async () => {
    const closing = await serveHttp((req) => req.socket.end());
    const closed = await failureOf(client(closing).getJson('/api', {}, signal()));
    expect(closed.code).to.equal('SLUICE_PREMATURE_CLOSE');
    expect(describeFailure(closed, subject(closing))).to.deep.equal({ hopeless: false, message: `cannot reach the Kubernetes API server at ${closing} (the connection was closed)` });
    const resetting = await serveHttp((req) => req.socket.resetAndDestroy());
    const reset = await failureOf(client(resetting).getJson('/api', {}, signal()));
    expect(describeFailure(reset, subject(resetting)).message).to.equal(`cannot reach the Kubernetes API server at ${resetting} (the connection was reset)`);
  });

  it('fails a watch whose connection is cut mid-stream after the lines that arrived', async () => {
    const server = await serveHttp((req, res) => {
      res.write('{"type":"ADDED","object":{}}\n');
      setTimeout(() => req.socket.destroy(), 50);
    });
    const lines: string[] = [];
    const err = await failureOf((async () => {
      for await (const line of await client(server).watch('/w', {}, signal())) lines.push(line);
    })());
    expect(lines).to.deep.equal(['{"type":"ADDED","object":{}}']);
    expect(describeFailure(err, subject(server)).message).to.equal(`cannot reach the Kubernetes API server at ${server} (the connection was closed)`);
  });

  it('says a watch cut by a reset was reset', async () => {
    const server = await serveHttp((req, res) => {
      res.write('{"type":"ADDED","object":{}}\n');
      setTimeout(() => req.socket.resetAndDestroy(), 50);
    });
    const err = await failureOf((async () => {
      for await (const _line of await client(server).watch('/w', {}, signal()));
    })());
    expect(describeFailure(err, subject(server)).message).to.equal(`cannot reach the Kubernetes API server at ${server} (the connection was reset)`);
  });

  it('fails without response headers in time, and when a list body stalls; a quiet watch body stays open', async () => {
    const server = await serveHttp((req, res) => {
      if (req.url === '/silent') return;
      res.write(req.url === '/list' ? '{"items":' : '{"type":"ADDED","object":{}}\n');
      setTimeout(() => res.end(req.url === '/list' ? '[]}' : '{"type":"DELETED","object":{}}\n'), 600);
    });
    const c = client(server, undefined, undefined, { headersMs: 300, bodyIdleMs: 300 });
    const silent = await failureOf(c.getJson('/silent', {}, signal()));
    expect(silent.code).to.equal('SLUICE_RESPONSE_TIMEOUT');
    expect(describeFailure(silent, subject(server)).message).to.equal(`cannot reach the Kubernetes API server at ${server} (no response within 30s)`);
    const stalled = await failureOf(c.getJson('/list', {}, signal()));
    expect(stalled.code).to.equal('SLUICE_BODY_TIMEOUT');
    expect(describeFailure(stalled, subject(server)).message).to.equal(`cannot reach the Kubernetes API server at ${server} (the response stalled)`);
    const lines: string[] = [];
    for await (const line of await c.watch('/watch', {}, signal())) lines.push(line);
    expect(lines).to.have.length(2);
  });

  it('times out a connection whose TLS handshake never completes', async () => {
    const mute = createNetServer((socket) => { sockets.add(socket); });
    servers.push(mute);
    const server = `https://127.0.0.1:${await listenOnLoopback(mute)}`;
    const err = await failureOf(client(server, undefined, undefined, { connectMs: 300 }).getJson('/api', {}, signal()));
    expect(err.code).to.equal('SLUICE_CONNECT_TIMEOUT');
    expect(describeFailure(err, subject(server)).message).to.equal(`cannot reach the Kubernetes API server at ${server} (the connection timed out)`);
  });

  it('ends a watch when its signal aborts: the iteration throws the reason and the connection closes', async () => {
    const server = await serveHttp((_req, res) => { res.write('{"type":"ADDED","object":{}}\n'); });
    const controller = new AbortController();
    const lines = await client(server).watch('/w', {}, controller.signal);
    const reason = new Error('stop');
    const err = await failureOf((async () => {
      for await (const _line of lines) controller.abort(reason);
    })());
    expect(err).to.equal(reason);
    await eventually(() => sockets.size === 0, 'the server to see the connection close', 5000);
  });

  it('closes the watch\'s connection when the consumer stops reading early', async () => {
    const server = await serveHttp((_req, res) => { res.write('{"type":"ADDED","object":{}}\n'); });
    for await (const _line of await client(server).watch('/w', {}, signal())) break;
    await eventually(() => sockets.size === 0, 'the server to see the connection close', 5000);
  });

  it('sends a GET again when a kept-alive connection turns out closed', async () => {
    const served = new WeakSet<Socket>();
    let requests = 0;
    const server = await serveHttp((req, res) => {
      requests++;
      // A second request on a connection: as if the server had closed it just before it arrived.
      if (served.has(req.socket)) return void req.socket.destroy();
      served.add(req.socket);
      res.end('{"ok":true}');
    });
    const c = client(server);
    expect(await c.getJson('/a', {}, signal())).to.deep.equal({ ok: true });
    expect(await c.getJson('/b', {}, signal())).to.deep.equal({ ok: true });
    expect(requests).to.equal(3);
  });

  it('closes its kept-alive connections on close()', async () => {
    const server = await serveHttp((_req, res) => res.end('{}'));
    const c = client(server);
    await c.getJson('/api', {}, signal());
    expect(sockets.size).to.equal(1);
    await c.close();
    await eventually(() => sockets.size === 0, 'the kept-alive connection to close', 5000);
  });
});
