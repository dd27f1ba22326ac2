import { expect } from 'chai';
import { LeastRequest } from '../../src/balancer/least-request.ts';
import { RandomPick } from '../../src/balancer/random.ts';
import { Backend } from '../../src/pool/backend.ts';

const made: Backend[] = [];
function backend(name: string, weight = 1, inflight = 0): Backend {
  const b = new Backend({ url: `http://${name}:80`, weight }, 'test', { connectMs: 1000, maxConnections: 16, protocol: 'http1' });
  b.inflight = inflight;
  made.push(b);
  return b;
}
after(() => {
  for (const b of made.splice(0)) b.close();
});

/** A seeded generator, so the draws are the same on every run. */
function seeded(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

function shares(pick: () => Backend | undefined, n: number): Map<Backend, number> {
  const counts = new Map<Backend, number>();
  for (let i = 0; i < n; i++) {
    const b = pick()!;
    counts.set(b, (counts.get(b) ?? 0) + 1);
  }
  return counts;
}

describe('LeastRequest (P2C)', () => {
  it('never picks the backend with the most requests in flight of three', () => {
    const [a, b, c] = [backend('a', 1, 0), backend('b', 1, 3), backend('c', 1, 10)];
    const lr = new LeastRequest(undefined, seeded(1));
    const counts = shares(() => lr.pick([a, b, c]), 3000);
    expect(counts.get(c) ?? 0).to.equal(0);
    // a wins every pair it is in (2/3 of pairs); b wins the a-less pair.
    expect(counts.get(a)! / 3000).to.be.closeTo(2 / 3, 0.05);
  });

  it('follows the weights at zero load (ties go to the first, weighted, draw)', () => {
    const [a, b] = [backend('a', 3), backend('b', 1)];
    const lr = new LeastRequest(undefined, seeded(2));
    const counts = shares(() => lr.pick([a, b]), 8000);
    expect(counts.get(a)! / 8000).to.be.closeTo(0.75, 0.03);
  });

  it('compares in-flight requests per unit of weight', () => {
    // a: 6 in flight / weight 3 = 2; b: 3 / 1 = 3. a wins every pair.
    const [a, b] = [backend('a', 3, 6), backend('b', 1, 3)];
    const lr = new LeastRequest(undefined, seeded(3));
    expect(shares(() => lr.pick([a, b]), 500).get(a)).to.equal(500);
  });

  it('skips backends this request already tried, even when they are the least loaded', () => {
    const [a, b, c] = [backend('a', 1, 0), backend('b', 1, 5), backend('c', 1, 9)];
    const lr = new LeastRequest(undefined, seeded(4));
    for (let i = 0; i < 200; i++) expect(lr.pick([a, b, c], [a])).to.equal(b);
    expect(lr.pick([a, b, c], [a, b])).to.equal(c);
    expect(lr.pick([a, b, c], [a, b, c])).to.equal(undefined);
    expect(lr.pick([])).to.equal(undefined);
  });
});

describe('RandomPick', () => {
  it('picks in proportion to weight', () => {
    const [a, b, c] = [backend('a', 2), backend('b', 1), backend('c', 1)];
    const r = new RandomPick(undefined, seeded(5));
    const counts = shares(() => r.pick([a, b, c]), 8000);
    expect(counts.get(a)! / 8000).to.be.closeTo(0.5, 0.03);
    expect(counts.get(b)! / 8000).to.be.closeTo(0.25, 0.03);
  });

  it('skips backends this request already tried', () => {
    const [a, b] = [backend('a'), backend('b')];
    const r = new RandomPick(undefined, seeded(6));
    for (let i = 0; i < 100; i++) expect(r.pick([a, b], [b])).to.equal(a);
    expect(r.pick([a, b], [a, b])).to.equal(undefined);
  });
});
