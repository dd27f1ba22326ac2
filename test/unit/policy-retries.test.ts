import { expect } from 'chai';
import { createBalancer } from '../../src/balancer/balancer.ts';
import { BALANCERS } from '../../src/config/config.ts';
import { Backend } from '../../src/pool/backend.ts';

describe('every policy on a retry', () => {
  const set = [1, 2, 3, 4].map((i) => new Backend({ url: `http://10.0.0.${i}:80`, weight: i }, 'test', { connectMs: 1000, maxConnections: 16, protocol: 'http1' }));
  after(() => set.forEach((b) => b.close()));

  for (const policy of BALANCERS) {
    for (const sticky of [false, true]) {
      it(`${policy}${sticky ? ' with sticky sessions' : ''} never returns a backend the request already tried`, () => {
        const balancer = createBalancer({
          balancer: policy,
          balancerOptions: { hashOn: { source: 'path', text: 'path' }, loadFactor: 1.25 },
          stickySession: sticky ? { cookie: 'pin', ttlMs: 0 } : undefined,
          slowStartMs: policy === 'consistent-hash' ? 0 : 10_000,
        }, { isTrustedProxy: () => false });
        for (let i = 0; i < 200; i++) {
          const tried = set.filter((_, j) => (i >> j) & 1);
          const pin = sticky ? balancer.setCookie!(set[i % 4], { headers: {}, socket: {} })!.split(';')[0] : undefined;
          const req = { method: 'GET', url: `/k${i % 7}`, headers: pin ? { cookie: pin } : {}, socket: { remoteAddress: '10.9.9.9' } };
          const picked = balancer.pick(set, tried, req);
          if (tried.length === set.length) expect(picked).to.equal(undefined);
          else {
            expect(picked).to.not.equal(undefined);
            expect(tried).to.not.include(picked);
          }
        }
      });
    }
  }
});
