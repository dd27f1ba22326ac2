// Kubernetes discovery against a real kube-apiserver: EndpointSlices and Endpoints written
// through the API, real backends in a network namespace, sluice as a real process.

import { expect } from 'chai';
import type { KubernetesObject } from '@kubernetes/client-node';
import { request } from 'undici';
import { eventually } from '../helpers/eventually.ts';
import { LoadLoop } from '../helpers/load.ts';
import type { StatusBackend } from '../helpers/sluice-process.ts';
import { BackendNet } from './helpers/backend-net.ts';
import { apply, ensureNamespace, remove } from './helpers/cluster.ts';
import {
  DiscoverySluice, discoveryConfig, endpointSlice, endpoints, podName, service, url,
  type TestEndpoint, type TestPort,
} from './helpers/discovery.ts';

const NS = 'discovery';
const TWO_PORTS: TestPort[] = [{ name: 'http', port: 80, targetPort: 8080 }, { name: 'metrics', port: 81, targetPort: 9090 }];

describe('Kubernetes discovery (real kube-apiserver)', () => {
  let net: BackendNet;
  let sluices: DiscoverySluice[] = [];
  let load: LoadLoop | undefined;
  let objects: KubernetesObject[] = [];
  let serial = 0;

  before(async () => {
    await ensureNamespace(NS);
    net = await BackendNet.create(6);
  });
  after(async () => { await net?.stop(); });
  afterEach(async () => {
    await load?.stop();
    load = undefined;
    await Promise.all(sluices.map((s) => s.stop()));
    sluices = [];
    for (const o of objects.reverse()) await remove(o);
    objects = [];
  });

  /** Creates or updates an object and remembers it for cleanup. */
  async function put(object: KubernetesObject): Promise<void> {
    await apply(object);
    if (!objects.some((o) => o.kind === object.kind && o.metadata?.name === object.metadata?.name)) objects.push(object);
  }

  function sluiceFor(config: string): DiscoverySluice {
    const s = new DiscoverySluice(config);
    sluices.push(s);
    return s;
  }

  /** Polls /status until `check` holds; fails if that takes longer than a second. */
  async function withinASecond(s: DiscoverySluice, check: (b: Map<string, StatusBackend>) => boolean, what: string): Promise<number> {
    const started = Date.now();
    await eventually(async () => check(await s.backends()), what, 1000, 10);
    return Date.now() - started;
  }

  async function requestsTo(s: DiscoverySluice, target: string): Promise<number> {
    return (await s.backends()).get(target)?.requests ?? 0;
  }

  it('prefers the endpoints hinted for its zone (topology.zone), and falls back to all zones when none is ready', async () => {
    const [a, b, c] = net.addresses;
    const svc = `zoned-${++serial}`;
    await put(service(NS, svc));
    await put(endpointSlice(NS, `${svc}-x`, svc, [
      { ip: a, zone: 'zone-1', forZones: ['zone-1'] },
      { ip: b, zone: 'zone-2', forZones: ['zone-2'] },
      { ip: c, zone: 'zone-2', forZones: ['zone-2'] },
    ]));
    const s = await sluiceFor(discoveryConfig({ service: svc, namespace: NS, port: 'http' }) + 'topology:\n  zone: zone-2\n').startSynced();
    await s.waitForHealthy(3);
    const status = await s.status();
    expect(status.topology).to.deep.equal({ zone: 'zone-2', preferSameZone: true, mode: 'hints' });
    expect((await s.backends()).get(url(a))?.forZones).to.deep.equal(['zone-1']);
    for (let i = 0; i < 20; i++) {
      const res = await request(`${s.proxyUrl}/`);
      expect(res.statusCode).to.equal(200);
      await res.body.text();
    }
    expect(await requestsTo(s, url(a)), 'requests to the zone-1 endpoint').to.equal(0);
    expect((await requestsTo(s, url(b))) + (await requestsTo(s, url(c)))).to.equal(20);

    // Both zone-2 endpoints stop being ready: the zone-1 one takes the traffic rather than none.
    await put(endpointSlice(NS, `${svc}-x`, svc, [
      { ip: a, zone: 'zone-1', forZones: ['zone-1'] },
      { ip: b, zone: 'zone-2', forZones: ['zone-2'], state: 'not-ready' },
      { ip: c, zone: 'zone-2', forZones: ['zone-2'], state: 'not-ready' },
    ]));
    await eventually(async () => (await s.status()).topology?.mode === 'all zones (none ready for this zone)', 'the fallback to all zones', 10_000);
    const res = await request(`${s.proxyUrl}/`);
    expect(res.statusCode).to.equal(200);
    await res.body.text();
    expect(await requestsTo(s, url(a))).to.equal(1);
  });

  it('follows endpoints added, not ready, terminating and removed within a second, with no failed request under load', async () => {
    const [a, b, c, d, e] = net.addresses;
    const svc = `web-${++serial}`;
    const sliceX = (eps: TestEndpoint[]): KubernetesObject => endpointSlice(NS, `${svc}-x`, svc, eps);
    const sliceY = (eps: TestEndpoint[]): KubernetesObject => endpointSlice(NS, `${svc}-y`, svc, eps);
    await put(service(NS, svc));
    await put(sliceX([{ ip: a }]));
    const sluice = await sluiceFor(discoveryConfig({ service: svc, namespace: NS, port: 'http' })).startSynced();
    await sluice.waitForHealthy(1);
    const first = (await sluice.backends()).get(url(a))!;
    expect(first).to.include({ source: 'kubernetes', pod: podName(a), node: 'node-a', zone: 'zone-1' });
    load = new LoadLoop(`${sluice.proxyUrl}/`, 4, 1_000_000, 120_000).start();
    const latencies: Record<string, number> = {};
    const present = (ip: string) => (m: Map<string, StatusBackend>) => m.has(url(ip));
    const gone = (ip: string) => (m: Map<string, StatusBackend>) => !m.has(url(ip)) || m.get(url(ip))!.state === 'draining';
    const gets = async (ip: string, n = 20): Promise<void> => {
      const before = await requestsTo(sluice, url(ip));
      await eventually(async () => (await requestsTo(sluice, url(ip))) >= before + n, `${ip} to get ${n} more requests`, 10_000);
    };

    // A new endpoint in the slice.
    await put(sliceX([{ ip: a }, { ip: b }]));
    latencies.added = await withinASecond(sluice, present(b), `${b} to join`);
    await gets(b);

    // A second slice of the same Service.
    await put(sliceY([{ ip: c }]));
    latencies.secondSlice = await withinASecond(sluice, present(c), `${c} from the second slice to join`);
    await gets(c);

    // Not ready: out of the pool (draining, then gone).
    await put(sliceX([{ ip: a }, { ip: b, state: 'not-ready' }]));
    latencies.notReady = await withinASecond(sluice, gone(b), `${b} to leave`);
    await eventually(async () => !(await sluice.backends()).has(url(b)), `${b} to finish draining`, 10_000);

    // Terminating but serving, while a ready endpoint is left: no new requests.
    await put(sliceX([{ ip: a, state: 'terminating' }]));
    latencies.terminating = await withinASecond(sluice, (m) => m.get(url(a))?.state === 'draining', `${a} to be terminating`);
    const aBefore = await requestsTo(sluice, url(a));
    await gets(c, 50);
    expect(await requestsTo(sluice, url(a)), 'requests to the terminating endpoint while a ready one exists').to.equal(aBefore);
    expect((await sluice.backends()).has(url(a)), 'a terminating endpoint stays in the pool').to.equal(true);

    // Nothing ready left: the terminating-but-serving endpoints take the traffic.
    await put(sliceY([{ ip: c, state: 'terminating' }]));
    latencies.lastReadyTerminating = await withinASecond(sluice, (m) => m.get(url(c))?.state === 'draining', `${c} to be terminating`);
    await Promise.all([gets(a), gets(c)]);

    // A ready endpoint again: the terminating ones get nothing new.
    await put(sliceY([{ ip: c, state: 'terminating' }, { ip: d }]));
    latencies.readyAgain = await withinASecond(sluice, present(d), `${d} to join`);
    await gets(d);
    const [aNow, cNow] = [await requestsTo(sluice, url(a)), await requestsTo(sluice, url(c))];
    await gets(d, 50);
    expect([await requestsTo(sluice, url(a)), await requestsTo(sluice, url(c))], 'requests to terminating endpoints once one is ready').to.deep.equal([aNow, cNow]);

    // Terminating and no longer serving: dropped. Then a whole slice goes away.
    await put(sliceX([{ ip: a, state: 'terminating-not-serving' }, { ip: e }]));
    latencies.notServing = await withinASecond(sluice, (m) => gone(a)(m) && m.has(url(e)), `${a} to leave and ${e} to join`);
    await gets(e);
    await remove(sliceY([]));
    latencies.sliceDeleted = await withinASecond(sluice, (m) => gone(c)(m) && gone(d)(m), `${c} and ${d} to leave with their slice`);
    await gets(e);

    const result = await load.stop();
    load = undefined;
    expect(result.failures, 'failed requests under load').to.deep.equal([]);
    expect(result.ok).to.be.above(300);
    for (const [step, ms] of Object.entries(latencies)) expect(ms, step).to.be.at.most(1000);
    const status = await sluice.discovery();
    expect(status).to.include({ kind: 'kubernetes', api: 'endpointslices', namespace: NS, service: svc, synced: true, endpoints: 1, lastError: null });
    expect(status.lastEventAt).to.be.a('string');
    console.log(`      reflected in ${Object.entries(latencies).map(([k, v]) => `${k} ${v}ms`).join(', ')}; ${result.ok} requests, 0 failed`);
  });

  it('merges the slices of a Service and lists an address found in two slices once', async () => {
    const [a, b, c] = net.addresses;
    const svc = `web-${++serial}`;
    await put(service(NS, svc));
    await put(endpointSlice(NS, `${svc}-p`, svc, [{ ip: a }, { ip: b }]));
    await put(endpointSlice(NS, `${svc}-q`, svc, [{ ip: b }, { ip: c }]));
    const sluice = await sluiceFor(discoveryConfig({ service: svc, namespace: NS })).startSynced();
    expect([...(await sluice.backends()).keys()].sort()).to.deep.equal([url(a), url(b), url(c)]);
    expect((await sluice.discovery()).endpoints).to.equal(3);
    await remove(endpointSlice(NS, `${svc}-p`, svc, []));
    await withinASecond(sluice, (m) => !m.has(url(a)) && m.get(url(b))?.state !== 'draining' && m.has(url(c)), `${a} to leave while ${b} stays`);
    expect((await sluice.discovery()).endpoints).to.equal(2);
  });

  it('finds the port by the Service port name or by the target port number', async () => {
    const [a, b] = net.addresses;
    const svc = `web-${++serial}`;
    await put(service(NS, svc, TWO_PORTS));
    await put(endpointSlice(NS, `${svc}-x`, svc, [{ ip: a }, { ip: b }], TWO_PORTS));
    const byName = sluiceFor(discoveryConfig({ service: svc, namespace: NS, port: 'metrics' }));
    const byNumber = sluiceFor(discoveryConfig({ service: svc, namespace: NS, port: 8080 }));
    await Promise.all([byName.startSynced(), byNumber.startSynced()]);
    expect([...(await byName.backends()).keys()].sort()).to.deep.equal([url(a, 9090), url(b, 9090)]);
    expect([...(await byNumber.backends()).keys()].sort()).to.deep.equal([url(a, 8080), url(b, 8080)]);
    await Promise.all([byName.waitForHealthy(2), byNumber.waitForHealthy(2)]);
    const answer = async (s: DiscoverySluice): Promise<string> => (await (await request(`${s.proxyUrl}/`)).body.text());
    expect(await answer(byName)).to.match(/:9090$/);
    expect(await answer(byNumber)).to.match(/:8080$/);
  });

  it('exits 2 naming the ports there are when the configured port matches none', async () => {
    const [a] = net.addresses;
    const svc = `web-${++serial}`;
    await put(service(NS, svc, TWO_PORTS));
    await put(endpointSlice(NS, `${svc}-x`, svc, [{ ip: a }], TWO_PORTS));
    // 80 is the Service port; EndpointSlices only know the target port (8080) and the name.
    const sluice = sluiceFor(discoveryConfig({ service: svc, namespace: NS, port: 80 }));
    sluice.spawn(['--config', sluice.configPath, '--kubeconfig', process.env.KUBECONFIG!]);
    expect(await sluice.waitForExit()).to.equal(2);
    expect(sluice.stderr).to.equal(`sluice: service ${NS}/${svc} has no endpoint port 80; a numeric discovery.kubernetes.port is the target (pod) port, not the Service port — its endpoints have ports http (8080), metrics (9090)\n`);
  });

  it('keeps its backends and reports the problem when the Service changes into a shape the config does not fit', async () => {
    const [a, b] = net.addresses;
    const svc = `web-${++serial}`;
    await put(service(NS, svc));
    await put(endpointSlice(NS, `${svc}-x`, svc, [{ ip: a }]));
    // No port configured: fine while the Service has exactly one.
    const sluice = await sluiceFor(discoveryConfig({ service: svc, namespace: NS })).startSynced();
    await sluice.waitForHealthy(1);
    await put(service(NS, svc, TWO_PORTS));
    await put(endpointSlice(NS, `${svc}-x`, svc, [{ ip: a }, { ip: b }], TWO_PORTS));
    const problem = `service ${NS}/${svc} has several ports (http, metrics); set discovery.kubernetes.port to one of them`;
    const status = await eventually(async () => {
      const d = await sluice.discovery();
      return d.problem === problem ? d : undefined;
    }, 'the problem to show in /status', 5000);
    expect(status.lastError?.message).to.equal(problem);
    expect(status.endpoints).to.equal(1);
    expect([...(await sluice.backends()).keys()], 'the last backends keep serving').to.deep.equal([url(a)]);
    expect((await request(`${sluice.proxyUrl}/`)).statusCode).to.equal(200);
    await put(service(NS, svc));
    await put(endpointSlice(NS, `${svc}-x`, svc, [{ ip: a }, { ip: b }]));
    await eventually(async () => (await sluice.discovery()).problem === null && (await sluice.backends()).has(url(b)), 'the problem to clear', 5000);
  });

  it('is synced but not ready for a Service without endpoints, and ready once one appears', async () => {
    const [a] = net.addresses;
    const svc = `web-${++serial}`;
    await put(service(NS, svc));
    const sluice = await sluiceFor(discoveryConfig({ service: svc, namespace: NS, port: 'http' })).startSynced();
    expect((await fetch(`${sluice.adminUrl}/readyz`)).status).to.equal(503);
    expect(await sluice.discovery()).to.include({ synced: true, endpoints: 0 });
    await put(endpointSlice(NS, `${svc}-x`, svc, [{ ip: a }]));
    await eventually(async () => (await fetch(`${sluice.adminUrl}/readyz`)).status === 200, '/readyz to turn 200', 5000);
  });

  it('follows core/v1 Endpoints with api: endpoints, ignoring notReadyAddresses', async () => {
    const [a, b, c] = net.addresses;
    const svc = `web-${++serial}`;
    await put(service(NS, svc));
    await put(endpoints(NS, svc, [a], [b]));
    const sluice = await sluiceFor(discoveryConfig({ service: svc, namespace: NS, port: 'http', api: 'endpoints' })).startSynced();
    expect([...(await sluice.backends()).keys()]).to.deep.equal([url(a)]);
    expect((await sluice.backends()).get(url(a))).to.include({ pod: podName(a), node: 'node-a' });
    await sluice.waitForHealthy(1);
    load = new LoadLoop(`${sluice.proxyUrl}/`, 4, 1_000_000, 60_000).start();
    await put(endpoints(NS, svc, [a, b], [c]));
    await withinASecond(sluice, (m) => m.has(url(b)) && !m.has(url(c)), `${b} to join`);
    await sluice.waitForHealthy(2);
    await put(endpoints(NS, svc, [b], [a]));
    await withinASecond(sluice, (m) => !m.has(url(a)) || m.get(url(a))!.state === 'draining', `${a} to leave`);
    const before = await requestsTo(sluice, url(b));
    await eventually(async () => (await requestsTo(sluice, url(b))) > before + 20, `${b} to take the traffic`, 10_000);
    const result = await load.stop();
    load = undefined;
    expect(result.failures).to.deep.equal([]);
    expect(await sluice.discovery()).to.include({ api: 'endpoints', synced: true, endpoints: 1 });
  });
});
