// Discovery says why there is nothing to balance, in one sentence on /status (`problem`) and
// /readyz: a Service or namespace that does not exist. And slices it cannot use (FQDN here) are
// counted in /status and logged once per slice, not once per event.

import { expect } from 'chai';
import type { KubernetesObject } from '@kubernetes/client-node';
import { eventually } from '../helpers/eventually.ts';
import { BackendNet } from './helpers/backend-net.ts';
import { apply, ensureNamespace, remove } from './helpers/cluster.ts';
import { DiscoverySluice, discoveryConfig, endpointSlice, service, url, type DiscoverySettings } from './helpers/discovery.ts';

const NS = 'problems';

describe('Discovery problems: missing Service or namespace, skipped slices (real kube-apiserver)', () => {
  let net: BackendNet;
  let sluices: DiscoverySluice[] = [];
  let objects: KubernetesObject[] = [];

  before(async () => {
    await ensureNamespace(NS);
    net = await BackendNet.create(2);
  });
  after(async () => { await net?.stop(); });
  afterEach(async () => {
    await Promise.all(sluices.map((s) => s.stop()));
    sluices = [];
    for (const o of objects.reverse()) await remove(o);
    objects = [];
  });

  async function put(object: KubernetesObject): Promise<KubernetesObject> {
    const applied = await apply(object);
    objects.push(object);
    return applied;
  }

  async function start(d: DiscoverySettings): Promise<DiscoverySluice> {
    const s = new DiscoverySluice(discoveryConfig(d));
    sluices.push(s);
    return s.startSynced();
  }

  async function readyz(s: DiscoverySluice): Promise<{ status: number; body: string }> {
    const res = await fetch(`${s.adminUrl}/readyz`);
    return { status: res.status, body: await res.text() };
  }

  it('says the Service does not exist, on /status and /readyz, and clears it once the Service has endpoints', async () => {
    const s = await start({ service: 'no-such-svc', namespace: NS, port: 'http' });
    const sentence = `service no-such-svc does not exist in namespace ${NS}`;
    await eventually(async () => (await s.discovery()).problem === sentence, 'the missing-Service sentence', 10_000);
    expect(await s.discovery()).to.include({ synced: true, endpoints: 0, lastError: null });
    expect(await readyz(s)).to.deep.equal({ status: 503, body: `not ready: no healthy backend (${sentence})\n` });
    expect(s.logs.filter((l) => l.msg === 'nothing to follow').map((l) => l.problem)).to.deep.equal([sentence]);

    await put(service(NS, 'no-such-svc'));
    await put(endpointSlice(NS, 'no-such-svc-x', 'no-such-svc', [{ ip: net.addresses[0] }]));
    await eventually(async () => (await s.discovery()).problem === null && (await readyz(s)).status === 200, 'the problem to clear and /readyz to turn 200', 10_000);
  });

  it('says the namespace does not exist, on /status and /readyz', async () => {
    const s = await start({ service: 'web', namespace: 'no-such-ns', port: 'http' });
    const sentence = 'namespace no-such-ns does not exist';
    await eventually(async () => (await s.discovery()).problem === sentence, 'the missing-namespace sentence', 10_000);
    expect(await readyz(s)).to.deep.equal({ status: 503, body: `not ready: no healthy backend (${sentence})\n` });
  });

  it('counts an FQDN slice in /status and logs it once, however often it changes', async () => {
    const [a, b] = net.addresses;
    await put(service(NS, 'mixed'));
    await put(endpointSlice(NS, 'mixed-ip', 'mixed', [{ ip: a }]));
    const fqdn = (host: string): KubernetesObject => endpointSlice(NS, 'mixed-names', 'mixed', [{ ip: host, pod: 'pod-names' }], undefined, 'FQDN');
    await put(fqdn('one.example.invalid'));
    const s = await start({ service: 'mixed', namespace: NS, port: 'http' });
    await s.waitForHealthy(1);
    expect([...(await s.backends()).keys()]).to.deep.equal([url(a)]);
    expect((await s.discovery()).skippedSlices).to.deep.equal({ FQDN: 1, otherFamily: 0, unmatchedPorts: 0 });
    await put(fqdn('two.example.invalid'));
    await put(fqdn('three.example.invalid'));
    // A change sluice shows after those two: once it is in, they have been mapped too.
    await put(endpointSlice(NS, 'mixed-ip', 'mixed', [{ ip: a }, { ip: b }]));
    await eventually(async () => (await s.backends()).has(url(b)), `${b} to join after the FQDN changes`, 5000);
    const skipped = s.logs.filter((l) => l.msg.startsWith('skipping an'));
    expect(skipped.map((l) => [l.slice, l.reason, l.level])).to.deep.equal([['mixed-names', 'FQDN', 'warn']]);
    expect((await s.discovery()).skippedSlices).to.deep.equal({ FQDN: 1, otherFamily: 0, unmatchedPorts: 0 });
  });
});
