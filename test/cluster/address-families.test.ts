// IPv6 backends end to end against the real kube-apiserver: EndpointSlices with fd00::/8
// addresses of real HTTP servers in a network namespace, proxied and probed by the real sluice,
// shown in /status and the logs with bracketed URLs. And the choice of family on a dual-stack
// Service: `auto` keeps IPv4, `ipFamily: IPv6` takes the IPv6 slices.
//
// The Service objects carry no ipFamilies: this cluster's service CIDR is IPv4 only, and with
// no EndpointSlice controller the slices (written here) are all sluice reads anyway.

import { expect } from 'chai';
import type { KubernetesObject } from '@kubernetes/client-node';
import { eventually } from '../helpers/eventually.ts';
import { BackendNet } from './helpers/backend-net.ts';
import { apply, ensureNamespace, remove } from './helpers/cluster.ts';
import { DiscoverySluice, discoveryConfig, endpointSlice, podName, service, url, type DiscoverySettings } from './helpers/discovery.ts';

const NS = 'families';

describe('Address families: IPv6 endpoints end to end (real kube-apiserver)', () => {
  let net: BackendNet;
  let sluices: DiscoverySluice[] = [];
  let objects: KubernetesObject[] = [];
  let serial = 0;

  before(async () => {
    await ensureNamespace(NS);
    net = await BackendNet.create(2, { ipv6: true });
  });
  after(async () => { await net?.stop(); });
  afterEach(async () => {
    await Promise.all(sluices.map((s) => s.stop()));
    sluices = [];
    for (const o of objects.reverse()) await remove(o);
    objects = [];
  });

  async function put(object: KubernetesObject): Promise<void> {
    await apply(object);
    objects.push(object);
  }

  async function start(d: DiscoverySettings): Promise<DiscoverySluice> {
    const s = new DiscoverySluice(discoveryConfig(d));
    sluices.push(s);
    return s.startSynced();
  }

  /** GETs through sluice until every expected backend has answered; returns who answered. */
  async function answeredBy(s: DiscoverySluice, expected: string[]): Promise<Set<string>> {
    const seen = new Set<string>();
    for (let i = 0; i < 40 && seen.size < expected.length; i++) {
      const res = await fetch(`${s.proxyUrl}/`);
      expect(res.status, 'status through sluice').to.equal(200);
      seen.add(await res.text());
    }
    return seen;
  }

  it('proxies to and probes IPv6 endpoints of an IPv6-only Service with ipFamily auto, bracketed in /status and logs', async () => {
    const [a, b] = net.addresses6;
    const svc = `v6-${++serial}`;
    await put(service(NS, svc));
    await put(endpointSlice(NS, `${svc}-x`, svc, [{ ip: a }, { ip: b }], undefined, 'IPv6'));
    const s = await start({ service: svc, namespace: NS, port: 'http', accessLog: true });
    await s.waitForHealthy(2);

    const backends = await s.backends();
    expect([...backends.keys()].sort()).to.deep.equal([url(a), url(b)].sort());
    expect(url(a)).to.match(/^http:\/\/\[fd00:5c:[0-9a-f]+::2\]:8080$/);
    for (const ip of [a, b]) {
      const backend = backends.get(url(ip))!;
      expect(backend).to.include({ state: 'healthy', source: 'kubernetes', pod: podName(ip) });
      expect(backend.lastProbe, `probe of ${ip}`).to.include({ ok: true, status: 200 });
    }
    expect(await s.discovery()).to.include({ ipFamily: 'auto', addressFamily: 'IPv6', endpoints: 2, problem: null });

    const seen = await answeredBy(s, [a, b]);
    expect([...seen].sort()).to.deep.equal([`[${a}]:8080`, `[${b}]:8080`].sort());
    const access = await eventually(() => s.logs.find((l) => l.msg === 'access' && l.backend === url(a)), 'an access log line naming the IPv6 backend');
    expect(access).to.include({ status: 200 });
    expect(s.logs.some((l) => l.msg === 'backend added' && l.backend === url(b)), 'backend added, bracketed').to.equal(true);
  });

  it('takes the IPv6 slices of a dual-stack Service with ipFamily IPv6 (auto keeps IPv4), and logs the skipped slice once', async () => {
    const [a4, b4] = net.addresses;
    const [a6, b6] = net.addresses6;
    const svc = `dual-${++serial}`;
    await put(service(NS, svc));
    const pods = [podName(a4), podName(b4)];
    const v4 = (ips: string[]): KubernetesObject => endpointSlice(NS, `${svc}-v4`, svc, ips.map((ip, i) => ({ ip, pod: pods[i] })), undefined, 'IPv4');
    const v6 = (ips: string[]): KubernetesObject => endpointSlice(NS, `${svc}-v6`, svc, ips.map((ip, i) => ({ ip, pod: pods[i] })), undefined, 'IPv6');
    await put(v4([a4, b4]));
    await put(v6([a6, b6]));
    const [six, auto] = await Promise.all([
      start({ service: svc, namespace: NS, port: 'http', ipFamily: 'IPv6' }),
      start({ service: svc, namespace: NS, port: 'http' }),
    ]);
    await Promise.all([six.waitForHealthy(2), auto.waitForHealthy(2)]);

    expect([...(await six.backends()).keys()].sort()).to.deep.equal([url(a6), url(b6)].sort());
    expect([...(await auto.backends()).keys()].sort()).to.deep.equal([url(a4), url(b4)].sort());
    const d6 = await six.discovery();
    expect(d6).to.include({ ipFamily: 'IPv6', addressFamily: 'IPv6', problem: null });
    expect(d6.skippedSlices).to.deep.equal({ FQDN: 0, otherFamily: 1, unmatchedPorts: 0 });
    expect(await auto.discovery()).to.include({ ipFamily: 'auto', addressFamily: 'IPv4' });
    expect([...(await answeredBy(six, [a6, b6]))].sort()).to.deep.equal([`[${a6}]:8080`, `[${b6}]:8080`].sort());

    // Events on the skipped slice (and on the used one) do not log it again.
    await put(v4([a4]));
    await put(v6([a6]));
    await eventually(async () => !(await six.backends()).has(url(b6)) || (await six.backends()).get(url(b6))!.state === 'draining', `${b6} to leave`, 5000);
    await eventually(async () => (await auto.discovery()).endpoints === 1, 'auto to follow the IPv4 change', 5000);
    const skippedLogs = six.logs.filter((l) => l.msg.startsWith('skipping an EndpointSlice'));
    expect(skippedLogs.map((l) => [l.slice, l.reason]), 'skip log lines').to.deep.equal([[`${svc}-v4`, 'otherFamily']]);
  });
});
