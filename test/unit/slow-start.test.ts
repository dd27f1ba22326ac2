import { expect } from 'chai';
import { createBalancer, type Balancer } from '../../src/balancer/balancer.ts';
import { SlowStart } from '../../src/balancer/slow-start.ts';
import { Backend } from '../../src/pool/backend.ts';
import type { BalancerName } from '../../src/config/config.ts';

const made: Backend[] = [];
function backend(url: string, stateSince: number): Backend {
  const b = new Backend({ url, weight: 1 }, 'test', { connectMs: 1000, maxConnections: 16, protocol: 'http1' });
  b.stateSince = stateSince;
  made.push(b);
  return b;
}
after(() => {
  for (const b of made.splice(0)) b.close();
});

function share(balancer: Balancer, set: Backend[], target: Backend, n = 4000): number {
  let hits = 0;
  for (let i = 0; i < n; i++) if (balancer.pick(set) === target) hits++;
  return hits / n;
}

describe('SlowStart', () => {
  it('ramps a backend linearly over the window from a 10% floor', () => {
    const ss = new SlowStart(30_000, () => 100_000);
    expect(ss.factor(backend('http://a:80', 100_000))).to.equal(0.1);
    expect(ss.factor(backend('http://b:80', 85_000))).to.equal(0.5);
    expect(ss.factor(backend('http://c:80', 70_000))).to.equal(1);
    expect(ss.factor(backend('http://d:80', 0))).to.equal(1);
  });

  for (const policy of ['round-robin', 'weighted-round-robin', 'least-request', 'random'] as BalancerName[]) {
    it(`gives a backend that just became healthy a small share under ${policy}, its full share after the window`, () => {
      const now = Date.now();
      const old = [backend('http://a:80', now - 600_000), backend('http://b:80', now - 600_000)];
      const fresh = backend('http://c:80', now);
      const balancer = createBalancer({ balancer: policy, balancerOptions: { hashOn: undefined, loadFactor: 0 }, stickySession: undefined, slowStartMs: 60_000 }, { isTrustedProxy: () => false });
      const early = share(balancer, [...old, fresh], fresh);
      // 0.1 / 2.1 ≈ 4.8% instead of a third.
      expect(early).to.be.below(0.09);
      fresh.stateSince = now - 30_000;
      expect(share(balancer, [...old, fresh], fresh)).to.be.within(0.15, 0.25); // 0.5 / 2.5 = 20%
      fresh.stateSince = now - 60_000;
      expect(share(balancer, [...old, fresh], fresh)).to.be.within(0.29, 0.38);
    });
  }
});
