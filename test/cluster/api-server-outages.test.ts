// What happens to discovery when the API server goes away, comes back with its history
// compacted, or stops answering without closing connections. The backends behind sluice stay
// up throughout: whatever the API server does, no request may fail.

import { expect } from 'chai';
import type { KubernetesObject } from '@kubernetes/client-node';
import { eventually } from '../helpers/eventually.ts';
import { LoadLoop } from '../helpers/load.ts';
import { BackendNet } from './helpers/backend-net.ts';
import {
  apply, compactEtcd, ensureApiserverRunning, ensureNamespace, etcdKeyOf, etcdPutObject, etcdRevision,
  freezeApiserver, kubectlOk, remove, startApiserver, stopApiserver, thawApiserver,
} from './helpers/cluster.ts';
import { DiscoverySluice, discoveryConfig, endpointSlice, podName, service, url, type DiscoveryStatus } from './helpers/discovery.ts';

/** discovery.kubernetes.watchdog's default: the staleness bound the docs promise. */
const STALL_BOUND_MS = 30_000;

const NS = 'outages';

describe('Kubernetes discovery through API server outages (real kube-apiserver)', () => {
  let net: BackendNet;
  let sluice: DiscoverySluice | undefined;
  let load: LoadLoop | undefined;
  let objects: KubernetesObject[] = [];
  let serial = 0;

  before(async () => {
    await ensureNamespace(NS);
    net = await BackendNet.create(3);
  });
  after(async () => { await net?.stop(); });
  afterEach(async () => {
    await ensureApiserverRunning();
    await load?.stop();
    load = undefined;
    await sluice?.stop();
    sluice = undefined;
    for (const o of objects.reverse()) await remove(o);
    objects = [];
  });

  async function put(object: KubernetesObject): Promise<void> {
    await apply(object);
    if (!objects.some((o) => o.kind === object.kind && o.metadata?.name === object.metadata?.name)) objects.push(object);
  }

  /** A Service with one slice of the given endpoints, sluice following it under load. */
  async function setUp(ips: string[], watchdog?: string): Promise<{ svc: string; s: DiscoverySluice }> {
    const svc = `app-${++serial}`;
    await put(service(NS, svc));
    await put(endpointSlice(NS, `${svc}-x`, svc, ips.map((ip) => ({ ip }))));
    const s = await new DiscoverySluice(discoveryConfig({ service: svc, namespace: NS, port: 'http', watchdog })).startSynced();
    sluice = s;
    await s.waitForHealthy(ips.length);
    load = new LoadLoop(`${s.proxyUrl}/`, 4, 1_000_000, 150_000).start();
    return { svc, s };
  }

  async function keepsServing(what: string, n = 50): Promise<void> {
    const before = load!.ok;
    await eventually(() => load!.ok >= before + n, `${n} more successful requests ${what}`, 15_000);
  }

  it('keeps serving the last backends while the API server restarts, then follows changes again', async () => {
    const [a, b, c] = net.addresses;
    const { svc, s } = await setUp([a, b]);
    await stopApiserver();
    const down = await eventually(async () => {
      const d = await s.discovery();
      return d.lastError?.message.includes('cannot reach the Kubernetes API server') ? d : undefined;
    }, 'discovery to report the API server unreachable', 30_000);
    expect(down).to.include({ synced: true, endpoints: 2 });
    expect(down.problem, 'problem while the API server is down').to.equal(down.lastError?.message);
    expect((await fetch(`${s.adminUrl}/readyz`)).status, '/readyz while the API server is down').to.equal(200);
    await keepsServing('while the API server is down');
    expect([...(await s.backends()).keys()].sort()).to.deep.equal([url(a), url(b)]);

    await startApiserver();
    // Written before sluice's next retry, most likely: it must show up once it reconnects.
    await put(endpointSlice(NS, `${svc}-x`, svc, [{ ip: a }, { ip: b }, { ip: c }]));
    await eventually(async () => (await s.backends()).has(url(c)), `${c} after the API server came back`, 45_000);
    // The watch is live again: changes show up at once.
    await put(endpointSlice(NS, `${svc}-x`, svc, [{ ip: b }, { ip: c }]));
    await eventually(async () => (await s.backends()).get(url(a))?.state !== 'healthy', `${a} to leave`, 1000, 10);

    const result = await load!.stop();
    load = undefined;
    expect(result.failures, 'failed requests').to.deep.equal([]);
    const status = await s.discovery();
    expect(status.watchRestarts).to.be.at.least(1);
    expect(status.problem, 'problem once the watch is live again').to.equal(null);
    // The last error stays visible after recovery (a restarting API server may also have
    // answered 429 or 503 for a moment, so only its presence is certain).
    expect(status.lastError).to.not.equal(null);
    expect(down.lastError?.message).to.match(/^cannot reach the Kubernetes API server at https:\/\/127\.0\.0\.1:\d+ \(/);
    expect(s.logs.some((l) => l.msg === 'kubernetes watch resumed')).to.equal(true);
  });

  it('lists again after 410 Gone when etcd history was compacted past its resourceVersion', async () => {
    const [a, b] = net.addresses;
    const { svc, s } = await setUp([a]);
    const relistsBefore = (await s.discovery()).relists;
    // sluice holds the resourceVersion of its last event. Writes elsewhere move etcd on; after
    // a compaction at the current revision that resourceVersion no longer exists, and the
    // restarted API server (its watch cache rebuilt from etcd) must answer the re-watch with 410.
    let held = 0;
    let compactedAt = 0;
    for (let attempt = 0; attempt < 3; attempt++) {
      for (let i = 0; i < 20; i++) await put({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: `noise-${i}`, namespace: NS }, data: { n: `${attempt}-${i}` } } as KubernetesObject);
      compactedAt = await etcdRevision();
      await compactEtcd(compactedAt);
      await stopApiserver();
      held = Number((await s.discovery()).resourceVersion);
      if (held < compactedAt) break;
      // A bookmark carried sluice past the compaction just in time: try again.
      await startApiserver();
    }
    expect(held, 'resourceVersion sluice holds vs. compacted revision').to.be.below(compactedAt);
    await keepsServing('while the API server is down');
    await startApiserver();
    await put(endpointSlice(NS, `${svc}-x`, svc, [{ ip: a }, { ip: b }]));
    const after = await eventually(async () => {
      const d = await s.discovery();
      return d.relists > relistsBefore && (await s.backends()).has(url(b)) ? d : undefined;
    }, 'a relist and the change made meanwhile', 45_000);
    expect(Number(after.resourceVersion)).to.be.above(compactedAt);
    expect(s.logs.some((l) => l.msg === 'watch expired (410 Gone); listing again'), 'the 410 was seen').to.equal(true);
    await s.waitForHealthy(2);
    const result = await load!.stop();
    load = undefined;
    expect(result.failures, 'failed requests').to.deep.equal([]);
  });

  it('shows a frozen API server as a problem within the default 30s bound, keeps serving, and picks up a change made during the freeze', async function () {
    this.timeout(180_000);
    const [a, b, c] = net.addresses;
    // Two backends, so one probe timing out on a busy machine costs no request.
    const { svc, s } = await setUp([a, c]);
    const name = `${svc}-x`;
    expect((await s.discovery()).problem).to.equal(null);
    // The change to make behind the frozen API server's back, written straight into etcd.
    const slice = JSON.parse(await kubectlOk(['get', 'endpointslice', name, '-n', NS, '-o', 'json'])) as { metadata: Record<string, unknown>; endpoints: object[] };
    delete slice.metadata.resourceVersion;
    slice.endpoints = [...slice.endpoints, { ...slice.endpoints[0], addresses: [b], targetRef: { kind: 'Pod', name: podName(b), namespace: NS } }];
    const key = await etcdKeyOf('endpointslices', NS, name);

    const frozenAt = Date.now();
    freezeApiserver();
    let shownAfterMs: number;
    let frozen: DiscoveryStatus;
    try {
      frozen = await eventually(async () => {
        const d = await s.discovery();
        return d.problem ? d : undefined;
      }, 'discovery.problem while the API server is frozen', STALL_BOUND_MS + 10_000, 100);
      shownAfterMs = Date.now() - frozenAt;
      await etcdPutObject(key, slice);
      await keepsServing('while the API server is frozen');
      expect((await fetch(`${s.adminUrl}/readyz`)).status, '/readyz while frozen: the last backends still serve').to.equal(200);
    } finally {
      thawApiserver();
    }
    process.stdout.write(`      freeze → discovery.problem shown after ${shownAfterMs} ms (bound ${STALL_BOUND_MS} ms)\n`);
    expect(frozen.problem).to.match(/^the Kubernetes API server at https:\/\/127\.0\.0\.1:\d+ sent nothing for 30s, not even a bookmark \(frozen, or the connection is dead\); listing again, keeping the last 2 backends$/);
    expect(frozen.dataAgeSeconds as number, 'data age when the stall was shown').to.be.at.least(STALL_BOUND_MS / 1000);
    expect(frozen).to.include({ synced: true, endpoints: 2 });
    // A healthy watch ends (and is renewed) at least every 15s, so the silence began at most 15s
    // before the freeze (here: at the watch opened just before it, so close to the full 30s).
    expect(shownAfterMs, 'freeze → problem shown').to.be.below(STALL_BOUND_MS + 2000);

    const after = await eventually(async () => {
      const d = await s.discovery();
      return d.problem === null && (await s.backends()).has(url(b)) ? d : undefined;
    }, 'the change made during the freeze, and the problem to clear', 60_000, 100);
    expect(after.dataAgeSeconds as number).to.be.below(STALL_BOUND_MS / 1000 / 2 + 1);
    expect(after.relists).to.be.at.least(1);
    await s.waitForHealthy(3);
    const result = await load!.stop();
    load = undefined;
    const story = s.logs.filter((l) => l.msg !== 'access').map((l) => `${l.time ?? ''} ${l.msg} ${JSON.stringify({ ...l, msg: undefined, time: undefined, pid: undefined, hostname: undefined, level: undefined })}`).join('\n');
    expect(result.failures.length, `failed requests (${result.failures[0]}); sluice logged:\n${story}`).to.equal(0);
  });

  it('lists again when the watch goes silent, even though its connection stays open', async () => {
    const [a, b] = net.addresses;
    const { svc, s } = await setUp([a], '3s');
    const relistsBefore = (await s.discovery()).relists;
    // SIGSTOP: the API server's sockets stay open but nothing arrives, as with a dead peer
    // behind a NAT or a hung proxy. Only the watchdog can notice.
    freezeApiserver();
    try {
      await s.waitForLog((l) => l.msg === 'watch silent for too long; listing again', 'the watchdog to fire', 15_000);
      await keepsServing('while the API server is frozen');
    } finally {
      thawApiserver();
    }
    await eventually(async () => (await s.discovery()).relists > relistsBefore, 'the relist to complete', 45_000);
    await put(endpointSlice(NS, `${svc}-x`, svc, [{ ip: a }, { ip: b }]));
    await eventually(async () => (await s.backends()).has(url(b)), `${b} to join`, 10_000);
    const result = await load!.stop();
    load = undefined;
    expect(result.failures, 'failed requests').to.deep.equal([]);
  });
});
