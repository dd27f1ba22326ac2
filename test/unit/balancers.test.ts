import { expect } from 'chai';
import { RoundRobin } from '../../src/balancer/round-robin.ts';
import { WeightedRoundRobin } from '../../src/balancer/weighted-round-robin.ts';
import { Backend } from '../../src/pool/backend.ts';

const backends: Backend[] = [];
function backend(name: string, weight = 1): Backend {
  const b = new Backend({ url: `http://${name}:80`, weight }, 'test', { connectMs: 1000, maxConnections: 16, protocol: 'http1' });
  backends.push(b);
  return b;
}

after(() => {
  for (const b of backends.splice(0)) b.close();
});

describe('RoundRobin', () => {
  it('picks candidates in strict rotation', () => {
    const [a, b, c] = [backend('a'), backend('b'), backend('c')];
    const rr = new RoundRobin();
    const picks = Array.from({ length: 9 }, () => rr.pick([a, b, c])?.url);
    expect(picks).to.deep.equal([a, b, c, a, b, c, a, b, c].map((x) => x.url));
  });

  it('skips backends this request already tried', () => {
    const [a, b, c] = [backend('a'), backend('b'), backend('c')];
    const rr = new RoundRobin();
    expect(rr.pick([a, b, c], [a])).to.equal(b);
    expect(rr.pick([a, b, c], [a, b, c])).to.equal(undefined);
  });

  it('returns undefined for no candidates and copes with a shrinking set', () => {
    const [a, b] = [backend('a'), backend('b')];
    const rr = new RoundRobin();
    expect(rr.pick([])).to.equal(undefined);
    rr.pick([a, b]);
    expect(rr.pick([a])).to.equal(a);
  });
});

describe('WeightedRoundRobin', () => {
  it('gives each backend its weight share over a cycle, interleaved (5:1:1 → a a b a c a a)', () => {
    const [a, b, c] = [backend('a', 5), backend('b', 1), backend('c', 1)];
    const wrr = new WeightedRoundRobin();
    const picks = Array.from({ length: 7 }, () => wrr.pick([a, b, c])!.url.slice(7, 8)).join('');
    expect(picks).to.equal('aabacaa');
  });

  it('keeps the proportions over many picks', () => {
    const [a, b] = [backend('a', 3), backend('b', 1)];
    const wrr = new WeightedRoundRobin();
    const counts = new Map<Backend, number>();
    for (let i = 0; i < 4000; i++) {
      const p = wrr.pick([a, b])!;
      counts.set(p, (counts.get(p) ?? 0) + 1);
    }
    expect(counts.get(a)).to.equal(3000);
    expect(counts.get(b)).to.equal(1000);
  });

  it('treats equal weights as plain rotation and honours exclusions', () => {
    const [a, b, c] = [backend('a'), backend('b'), backend('c')];
    const wrr = new WeightedRoundRobin();
    expect(Array.from({ length: 6 }, () => wrr.pick([a, b, c]))).to.deep.equal([a, b, c, a, b, c]);
    expect(wrr.pick([a, b, c], [a, b])).to.equal(c);
    expect(wrr.pick([a], [a])).to.equal(undefined);
  });
});
