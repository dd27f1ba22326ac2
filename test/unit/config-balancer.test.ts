import { expect } from 'chai';
import { parseConfig } from '../../src/config/load.ts';
import { ConfigError } from '../../src/errors.ts';

const BACKENDS = 'backends:\n  - url: http://10.0.0.1:8080\n';

function problems(text: string): string[] {
  try {
    parseConfig(text + BACKENDS, '/etc/sluice/config.yaml');
  } catch (err) {
    if (err instanceof ConfigError) return err.issues.map((i) => `${i.line}:${i.column} ${i.path}: ${i.message}`);
    throw err;
  }
  return [];
}

describe('config: balancer, stickySession, slowStart', () => {
  it('keeps the string form and defaults to no stickiness and no slow start', () => {
    const config = parseConfig(`balancer: least-request\n${BACKENDS}`, 'c.yaml');
    expect(config.balancer).to.equal('least-request');
    expect(config.balancerOptions).to.deep.equal({ hashOn: undefined, loadFactor: 1.25 });
    expect(config.stickySession).to.equal(undefined);
    expect(config.slowStartMs).to.equal(0);
  });

  it('reads the object form, stickySession and slowStart as named in the issue', () => {
    const config = parseConfig([
      'balancer:',
      '  policy: consistent-hash',
      '  hashOn: header:X-User-Id',
      '  loadFactor: 1.5',
      'stickySession:',
      '  cookie: app_pin',
      '  ttl: 30m',
      BACKENDS,
    ].join('\n'), 'c.yaml');
    expect(config.balancer).to.equal('consistent-hash');
    expect(config.balancerOptions).to.deep.equal({ hashOn: { source: 'header', name: 'x-user-id', text: 'header:X-User-Id' }, loadFactor: 1.5 });
    expect(config.stickySession).to.deep.equal({ cookie: 'app_pin', ttlMs: 1_800_000 });
  });

  it('fills stickySession defaults for an empty mapping and reads every hashOn form', () => {
    expect(parseConfig(`stickySession: {}\n${BACKENDS}`, 'c.yaml').stickySession).to.deep.equal({ cookie: 'sluice_affinity', ttlMs: 3_600_000 });
    expect(parseConfig(`slowStart: 30s\nbalancer: least-request\n${BACKENDS}`, 'c.yaml').slowStartMs).to.equal(30_000);
    for (const [text, source] of [['cookie:sid', 'cookie'], ['query:user', 'query'], ['path', 'path'], ['client-ip', 'client-ip']]) {
      const config = parseConfig(`balancer: { policy: consistent-hash, hashOn: "${text}", loadFactor: 0 }\n${BACKENDS}`, 'c.yaml');
      expect(config.balancerOptions.hashOn?.source).to.equal(source);
      expect(config.balancerOptions.loadFactor).to.equal(0);
    }
  });

  it('rejects hashOn or loadFactor without consistent-hash, in one sentence each', () => {
    expect(problems('balancer:\n  policy: least-request\n  hashOn: path\n  loadFactor: 2\n')).to.deep.equal([
      '3:11 balancer.hashOn: only the consistent-hash policy uses hashOn; set "policy: consistent-hash" or remove hashOn (policy is least-request)',
      '4:15 balancer.loadFactor: only the consistent-hash policy uses loadFactor; set "policy: consistent-hash" or remove loadFactor (policy is least-request)',
    ]);
  });

  it('rejects consistent-hash without hashOn, and with slowStart', () => {
    expect(problems('balancer: consistent-hash\n')).to.deep.equal([
      '1:11 balancer.hashOn: consistent-hash needs hashOn, the request part to hash: header:NAME, cookie:NAME, query:NAME, path or client-ip',
    ]);
    expect(problems('balancer: { policy: consistent-hash, hashOn: path }\nslowStart: 10s\n')).to.deep.equal([
      '2:12 slowStart: consistent-hash does not ramp weights (that would move keys between backends while the ramp runs); remove slowStart or choose another policy',
    ]);
  });

  it('rejects bad values: unknown policy, hash key, load factor, cookie name, durations, unknown keys', () => {
    expect(problems([
      'balancer:',
      '  policy: fastest',
      '  hashOn: "header:"',
      '  loadFactor: 0.5',
      '  weights: 2',
      'stickySession:',
      '  cookie: "a b"',
      '  ttl: 5',
      'slowStart: soon',
      '',
    ].join('\n'))).to.deep.equal([
      '2:11 balancer.policy: "fastest" is not one of round-robin, weighted-round-robin, least-request, random, consistent-hash',
      '3:11 balancer.hashOn: "header:" is not a hash key; expected header:NAME, cookie:NAME, query:NAME, path or client-ip',
      '4:15 balancer.loadFactor: must be 0 (unbounded) or at least 1, e.g. 1.25',
      '5:3 balancer.weights: unknown key; expected one of policy, hashOn, loadFactor',
      '7:11 stickySession.cookie: "a b" is not a valid cookie name (letters, digits and !#$%&\'*+-.^_`|~ only)',
      '8:8 stickySession.ttl: 5 has no unit; write e.g. "5s" or "5ms"',
      '9:12 slowStart: "soon" is not a duration; use a number with a unit: ms, s, m or h',
    ]);
  });

  it('rejects hashing on the cookie that stickySession sets', () => {
    expect(problems('balancer: { policy: consistent-hash, hashOn: "cookie:pin" }\nstickySession: { cookie: pin }\n')).to.have.length(1);
  });
});
