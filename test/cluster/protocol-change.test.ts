// A Service sluice already follows gets appProtocol on its port: the endpoints sluice has switch
// protocol for new requests, against a real kube-apiserver, with backends in a network namespace
// that serve HTTP/1.1 and h2c on one port (as gRPC servers that also serve HTTP/1.1 do).

import { expect } from 'chai';
import { spawn, type ChildProcess } from 'node:child_process';
import type { KubernetesObject } from '@kubernetes/client-node';
import { request } from 'undici';
import { eventually } from '../helpers/eventually.ts';
import { LoadLoop } from '../helpers/load.ts';
import { BackendNet } from './helpers/backend-net.ts';
import { apply, ensureNamespace, remove } from './helpers/cluster.ts';
import { DiscoverySluice, discoveryConfig, endpointSlice, service, url, type TestPort } from './helpers/discovery.ts';

const NS = 'protocol-change';
const PORT = 50080;
const WEB: TestPort[] = [{ name: 'web', port: 80, targetPort: PORT }];

/**
 * Run inside the backends' namespace (`node -e`): on every given address, port 50080, HTTP/2
 * with prior knowledge when a connection opens with the HTTP/2 preface, else HTTP/1.1. Answers
 * the protocol a request came over ("HTTP/1.1", "HTTP/2.0"), also in x-backend; /health answers
 * 200. Prints "ready".
 */
const DUAL_PROTOCOL_PODS = `
import { createServer as createHttp1 } from 'node:http';
import { createServer as createHttp2 } from 'node:http2';
import { createServer as createTcp } from 'node:net';
import { duplexPair } from 'node:stream';
const PREFACE = Buffer.from('PRI * HTTP/2.0\\r\\n\\r\\nSM\\r\\n\\r\\n');
const handle = (req, res) => {
  req.resume();
  if (req.url === '/health') { res.end('ok\\n'); return; }
  const protocol = 'HTTP/' + req.httpVersion;
  res.writeHead(200, { 'content-type': 'text/plain', 'x-backend': protocol });
  res.end(protocol);
};
const http1 = createHttp1(handle);
http1.keepAliveTimeout = 5000;
const http2 = createHttp2(handle);
http2.on('session', (session) => session.on('error', () => {}));
const sniff = (socket) => {
  socket.on('error', () => {});
  let first = Buffer.alloc(0);
  const onData = (chunk) => {
    first = Buffer.concat([first, chunk]);
    const n = Math.min(first.length, PREFACE.length);
    const isHttp2 = first.subarray(0, n).equals(PREFACE.subarray(0, n));
    if (isHttp2 && n < PREFACE.length) return;
    socket.off('data', onData);
    socket.pause();
    if (!isHttp2) { socket.unshift(first); http1.emit('connection', socket); socket.resume(); return; }
    // Node's http2 reads a net.Socket's handle itself, past anything unshifted: it gets a pipe.
    const [inner, outer] = duplexPair();
    outer.write(first);
    socket.pipe(outer).pipe(socket);
    socket.once('close', () => outer.destroy());
    outer.on('error', () => socket.destroy());
    outer.once('close', () => socket.destroy());
    http2.emit('connection', inner);
  };
  socket.on('data', onData);
};
await Promise.all(process.argv.slice(1).map((host) => new Promise((resolve, reject) => {
  const server = createTcp(sniff);
  server.once('error', reject);
  server.listen(${PORT}, host, resolve);
})));
process.stdout.write('ready\\n');
`;

/** The Service and its slice, the port saying `appProtocol` when given. */
function objects(svc: string, ips: string[], appProtocol?: string): KubernetesObject[] {
  const withProtocol = <T extends KubernetesObject>(object: T, ports: (o: T) => Record<string, unknown>[]): T => {
    if (appProtocol !== undefined) for (const p of ports(object)) p.appProtocol = appProtocol;
    return object;
  };
  type Ported = KubernetesObject & { spec?: { ports: Record<string, unknown>[] }; ports?: Record<string, unknown>[] };
  return [
    withProtocol(service(NS, svc, WEB) as Ported, (o) => o.spec!.ports),
    withProtocol(endpointSlice(NS, `${svc}-x`, svc, ips.map((ip) => ({ ip })), WEB) as Ported, (o) => o.ports!),
  ];
}

describe('A Service port that gets appProtocol later (real kube-apiserver)', () => {
  let net: BackendNet;
  let pods: ChildProcess | undefined;
  let sluice: DiscoverySluice | undefined;
  let load: LoadLoop | undefined;
  let applied: KubernetesObject[] = [];

  before(async () => {
    await ensureNamespace(NS);
    net = await BackendNet.create(2);
    const child = spawn('ip', ['netns', 'exec', net.ns, process.execPath, '--input-type=module', '-e', DUAL_PROTOCOL_PODS, ...net.addresses], { stdio: ['ignore', 'pipe', 'pipe'] });
    pods = child;
    let output = '';
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => { output += chunk; });
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => { output += chunk; });
    await eventually(() => {
      if (child.exitCode !== null) throw new Error(`backend servers exited: ${output}`);
      return output.includes('ready');
    }, 'HTTP/1.1 + h2c servers in the backends\' namespace', 15_000);
  });

  after(async () => {
    const child = pods;
    pods = undefined;
    if (child && child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGKILL');
      await exited;
    }
    await net?.stop();
  });

  afterEach(async () => {
    await load?.stop();
    load = undefined;
    await sluice?.stop();
    sluice = undefined;
    for (const o of applied.reverse()) await remove(o);
    applied = [];
  });

  async function put(list: KubernetesObject[]): Promise<void> {
    for (const o of list) await apply(o);
    applied = list;
  }

  /** Sequential requests from the test itself: the protocol each one reached a pod over. */
  async function protocols(s: DiscoverySluice, count: number): Promise<string[]> {
    const out: string[] = [];
    for (let i = 0; i < count; i++) {
      const res = await request(`${s.proxyUrl}/`);
      expect(res.statusCode).to.equal(200);
      out.push(await res.body.text());
    }
    return out;
  }

  it('switches the endpoints it has to h2c when their slice adds appProtocol: kubernetes.io/h2c, keeping their health, without a failed request', async () => {
    const svc = 'dual';
    const backends = net.addresses.map((ip) => url(ip, PORT));
    await put(objects(svc, net.addresses));
    const s = new DiscoverySluice(discoveryConfig({ service: svc, namespace: NS, port: 'web' }));
    sluice = s;
    await s.startSynced();
    await s.waitForHealthy(2);
    expect(await protocols(s, 10)).to.deep.equal(Array(10).fill('HTTP/1.1'));
    load = new LoadLoop(`${s.proxyUrl}/`, 4, 1_000_000, 60_000).start();
    await eventually(() => load!.ok > 100, 'load over HTTP/1.1 to get going');
    const before = await s.backends();

    await put(objects(svc, net.addresses, 'kubernetes.io/h2c'));
    await eventually(() => {
      const switched = s.logs.filter((l) => l.msg === 'backend protocol changed' && l.protocol === 'h2c').map((l) => String(l.backend));
      return backends.every((b) => switched.includes(b));
    }, 'both endpoints to switch to h2c', 10_000);
    expect(await protocols(s, 20), 'requests sent after the switch').to.deep.equal(Array(20).fill('HTTP/2.0'));
    const h2Seen = load.result.byBackend.get('HTTP/2.0') ?? 0;
    await eventually(() => (load!.result.byBackend.get('HTTP/2.0') ?? 0) > h2Seen + 100, 'the load to go on over HTTP/2', 20_000);
    const result = await load.stop();
    load = undefined;
    expect(result.failures, result.failures.slice(0, 5).join('; ')).to.deep.equal([]);

    // The same backends, not re-added: health and counters kept.
    const after = await s.backends();
    expect([...after.keys()].sort()).to.deep.equal([...backends].sort());
    for (const b of backends) {
      expect(after.get(b)?.state, b).to.equal('healthy');
      expect(after.get(b)!.requests, b).to.be.greaterThan(before.get(b)!.requests);
    }
    expect(s.logs.filter((l) => l.msg === 'backend added'), 'backends added').to.have.length(2);
    expect(s.logs.filter((l) => l.msg === 'backend removed' || l.msg === 'backend draining'), 'backends drained').to.deep.equal([]);
  });
});
