import { expect } from 'chai';
import type { BalancerRequest } from '../../src/balancer/balancer.ts';
import { createBalancer } from '../../src/balancer/balancer.ts';
import { RoundRobin } from '../../src/balancer/round-robin.ts';
import { StickySessions } from '../../src/balancer/sticky-sessions.ts';
import { Backend } from '../../src/pool/backend.ts';

const made: Backend[] = [];
function backend(url: string): Backend {
  const b = new Backend({ url, weight: 1 }, 'test', { connectMs: 1000, maxConnections: 16, protocol: 'http1' });
  made.push(b);
  return b;
}
after(() => {
  for (const b of made.splice(0)) b.close();
});

const trustLoopback = { isTrustedProxy: (a: string | undefined) => a === '127.0.0.1' };
function request(headers: Record<string, string> = {}, remoteAddress = '10.1.2.3', encrypted?: boolean): BalancerRequest {
  return { method: 'GET', url: '/', headers, socket: { remoteAddress, encrypted } };
}
function sticky(ttlMs = 3_600_000): StickySessions {
  return new StickySessions(new RoundRobin(), { cookie: 'sluice_affinity', ttlMs }, trustLoopback);
}
const cookieOf = (setCookie: string): string => setCookie.split(';')[0];

describe('StickySessions', () => {
  it('pins a client to the backend named by its cookie, over the base order', () => {
    const set = [backend('http://10.0.0.1:80'), backend('http://10.0.0.2:80'), backend('http://10.0.0.3:80')];
    const s = sticky();
    const first = s.pick(set, undefined, request())!;
    const cookie = cookieOf(s.setCookie(first, request())!);
    for (let i = 0; i < 20; i++) {
      const req = request({ cookie: `theme=dark; ${cookie}` });
      expect(s.pick(set, undefined, req)).to.equal(first);
      expect(s.setCookie(first, req)).to.equal(undefined); // already pinned: no new cookie
    }
  });

  it('re-pins when the pinned backend is no longer a candidate or was already tried', () => {
    const [a, b, c] = [backend('http://10.0.0.1:80'), backend('http://10.0.0.2:80'), backend('http://10.0.0.3:80')];
    const s = sticky();
    const req = request({ cookie: cookieOf(s.setCookie(a, request())!) });
    expect(s.pick([a, b, c], undefined, req)).to.equal(a);
    const other = s.pick([b, c], undefined, req)!; // a is gone or unhealthy
    expect([b, c]).to.include(other);
    expect(s.setCookie(other, req)).to.match(/^sluice_affinity=/);
    expect(s.pick([a, b, c], [a], req)).to.not.equal(a); // a retry never goes back
  });

  it('keeps the address out of the cookie and sets HttpOnly, SameSite=Lax, Path and Max-Age', () => {
    const a = backend('http://10.0.0.1:8080');
    const value = sticky().setCookie(a, request())!;
    expect(value).to.match(/^sluice_affinity=[A-Za-z0-9_-]{16}; Path=\/; Max-Age=3600; HttpOnly; SameSite=Lax$/);
    expect(value).to.not.include('10.0.0.1');
    expect(value).to.not.include('8080');
    expect(sticky(0).setCookie(a, request())).to.not.include('Max-Age'); // ttl 0: a session cookie
    // The same token in every replica and after a restart.
    expect(cookieOf(sticky().setCookie(a, request())!)).to.equal(cookieOf(value));
  });

  it('marks the cookie Secure over TLS or when a trusted proxy says https, not when anyone else says so', () => {
    const a = backend('http://10.0.0.1:80');
    const s = sticky();
    expect(s.setCookie(a, request({}, '10.1.2.3', true))).to.match(/; Secure$/);
    expect(s.setCookie(a, request({ 'x-forwarded-proto': 'https' }, '127.0.0.1'))).to.match(/; Secure$/);
    expect(s.setCookie(a, request({ 'x-forwarded-proto': 'https' }, '10.1.2.3'))).to.not.include('Secure');
    expect(s.setCookie(a, request({ 'x-forwarded-proto': 'http' }, '127.0.0.1'))).to.not.include('Secure');
  });

  it('works on top of every policy and reports the base policy\'s name', () => {
    const set = [backend('http://10.0.0.1:80'), backend('http://10.0.0.2:80'), backend('http://10.0.0.3:80')];
    for (const policy of ['round-robin', 'weighted-round-robin', 'least-request', 'random', 'consistent-hash'] as const) {
      const balancer = createBalancer({
        balancer: policy,
        balancerOptions: { hashOn: { source: 'path', text: 'path' }, loadFactor: 1.25 },
        stickySession: { cookie: 'pin', ttlMs: 60_000 },
        slowStartMs: 0,
      }, trustLoopback);
      expect(balancer.name).to.equal(policy);
      const target = set[2];
      const req = request({ cookie: cookieOf(balancer.setCookie!(target, request())!) });
      for (let i = 0; i < 10; i++) expect(balancer.pick(set, undefined, req)).to.equal(target);
      for (let i = 0; i < 10; i++) expect(balancer.pick(set, [target], req)).to.not.equal(target);
    }
  });
});
