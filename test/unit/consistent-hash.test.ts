import { expect } from 'chai';
import type { BalancerRequest } from '../../src/balancer/balancer.ts';
import { ConsistentHash, cookieValue, hashKey } from '../../src/balancer/consistent-hash.ts';
import type { HashOn } from '../../src/config/config.ts';
import { Backend } from '../../src/pool/backend.ts';

const made: Backend[] = [];
function backend(url: string, weight = 1): Backend {
  const b = new Backend({ url, weight }, 'test', { connectMs: 1000, maxConnections: 16, protocol: 'http1' });
  made.push(b);
  return b;
}
after(() => {
  for (const b of made.splice(0)) b.close();
});

const noProxy = (): boolean => false;
function policy(loadFactor = 0, hashOn: HashOn = { source: 'header', name: 'x-user-id', text: 'header:X-User-Id' }): ConsistentHash {
  return new ConsistentHash({ hashOn, loadFactor, isTrustedProxy: noProxy });
}
function request(url: string, headers: Record<string, string> = {}, remoteAddress = '10.1.2.3'): BalancerRequest {
  return { method: 'GET', url, headers, socket: { remoteAddress } };
}
const pods = (n: number): Backend[] => Array.from({ length: n }, (_, i) => backend(`http://10.0.${i}.7:8080`));

describe('ConsistentHash', () => {
  it('sends one key to one backend every time, and spreads keys over all backends', () => {
    const set = pods(3);
    const ch = policy();
    const first = ch.pick(set, undefined, request('/', { 'x-user-id': 'alice' }));
    for (let i = 0; i < 1000; i++) expect(ch.pick(set, undefined, request(`/p${i}`, { 'x-user-id': 'alice' }))).to.equal(first);
    const counts = new Map<Backend, number>();
    for (let k = 0; k < 9000; k++) {
      const b = ch.pickKey(set, `user-${k}`)!;
      counts.set(b, (counts.get(b) ?? 0) + 1);
    }
    for (const b of set) expect(counts.get(b)! / 9000).to.be.closeTo(1 / 3, 0.06);
  });

  it('moves at most 1/N + 5% of 10,000 keys when a fourth backend joins, and only to the newcomer', () => {
    const three = pods(4);
    const four = [...three];
    three.pop();
    // Two instances: one ring each (one instance would rebuild on every switch of candidate set).
    const [before3, after4] = [policy(), policy()];
    let moved = 0;
    for (let k = 0; k < 10_000; k++) {
      const before = before3.pickKey(three, `key-${k}`);
      const after = after4.pickKey(four, `key-${k}`);
      if (before !== after) {
        moved++;
        expect(after).to.equal(four[3]);
      }
    }
    if (process.env.SLUICE_PRINT_FIGURES) console.log(`      moved ${moved} of 10000 keys (${(moved / 100).toFixed(1)}%)`);
    expect(moved / 10_000).to.be.at.most(1 / 4 + 0.05);
    expect(moved / 10_000).to.be.at.least(1 / 4 - 0.05); // the newcomer does get its share
  });

  it('builds the ring once per candidate set, not per request', () => {
    const set = pods(3);
    const ch = policy();
    for (let k = 0; k < 100; k++) ch.pickKey(set, `k${k}`);
    expect(ch.builds).to.equal(1);
    ch.pickKey([...set], 'k');
    expect(ch.builds).to.equal(2);
  });

  it('with loadFactor 1.25 caps a hot key at 1.25 × the mean in flight, spilling clockwise', () => {
    const set = pods(3);
    const ch = policy(1.25);
    const home = ch.pickKey(set, 'hot')!;
    // 12 requests for the same key arrive while none has finished.
    for (let i = 0; i < 12; i++) ch.pickKey(set, 'hot')!.inflight++;
    const max = Math.max(...set.map((b) => b.inflight));
    expect(max).to.be.at.most(1.25 * (12 / 3));
    expect(home.inflight).to.equal(5);
    for (const b of set) b.inflight = 0;
  });

  it('without a bound (loadFactor 0) a hot key stays on one backend whatever its load', () => {
    const set = pods(3);
    const ch = policy(0);
    for (let i = 0; i < 12; i++) ch.pickKey(set, 'hot')!.inflight++;
    expect(Math.max(...set.map((b) => b.inflight))).to.equal(12);
    for (const b of set) b.inflight = 0;
  });

  it('skips backends this request already tried and walks on to the next one on the ring', () => {
    const set = pods(4);
    for (const loadFactor of [0, 1.25]) {
      const ch = policy(loadFactor);
      const home = ch.pickKey(set, 'k')!;
      const next = ch.pickKey(set, 'k', [home])!;
      expect(next).to.not.equal(home);
      const third = ch.pickKey(set, 'k', [home, next])!;
      expect([home, next]).to.not.include(third);
      expect(ch.pickKey(set, 'k', set)).to.equal(undefined);
    }
  });

  it('goes round robin for a request without the key', () => {
    const set = pods(3);
    const ch = policy();
    const picks = Array.from({ length: 6 }, () => ch.pick(set, undefined, request('/')));
    expect(picks).to.deep.equal([...set, ...set]);
  });

  it('reads every kind of key', () => {
    const req = request('/a/b?user=7&x=1', { 'x-user-id': 'u1', cookie: 'sid=abc; theme=dark', 'x-forwarded-for': '1.1.1.1, 2.2.2.2' }, '10.9.9.9');
    expect(hashKey({ source: 'header', name: 'x-user-id', text: '' }, req, noProxy)).to.equal('u1');
    expect(hashKey({ source: 'cookie', name: 'theme', text: '' }, req, noProxy)).to.equal('dark');
    expect(hashKey({ source: 'query', name: 'user', text: '' }, req, noProxy)).to.equal('7');
    expect(hashKey({ source: 'query', name: 'nope', text: '' }, req, noProxy)).to.equal(undefined);
    expect(hashKey({ source: 'path', text: '' }, req, noProxy)).to.equal('/a/b');
    expect(hashKey({ source: 'client-ip', text: '' }, req, noProxy)).to.equal('10.9.9.9');
    // From a trusted proxy, the address it saw (the last X-Forwarded-For entry), not what the client claimed.
    expect(hashKey({ source: 'client-ip', text: '' }, req, () => true)).to.equal('2.2.2.2');
    expect(cookieValue('a=1;b="q"', 'b')).to.equal('q');
    expect(cookieValue('ab=1', 'b')).to.equal(undefined);
  });
});
