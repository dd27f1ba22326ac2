import { expect } from 'chai';
import { createServer, type ServerResponse } from 'node:http';
import { pino } from 'pino';
import { request } from 'undici';
import type { UpstreamProtocol } from '../../src/config/config.ts';
import { Pool } from '../../src/pool/pool.ts';
import type { Backend } from '../../src/pool/backend.ts';
import { eventually } from '../helpers/eventually.ts';
import { listenOnLoopback } from '../helpers/loopback.ts';

const log = pino({ level: 'silent' });
const thresholds = { healthyThreshold: 2, unhealthyThreshold: 3 };
let topology = { zone: '', preferSameZone: true };
const passiveHealth = { consecutiveFailures: 3, ejectionTimeMs: 60_000, maxEjectionTimeMs: 300_000, maxEjectionPercent: 50 };
/** upstream.protocol: the default for backends that do not name their own. */
let upstreamProtocol: UpstreamProtocol = 'http1';

function pass(pool: Pool, b: Backend): void {
  pool.recordProbe(b, { at: Date.now(), ok: true, status: 200, latencyMs: 1 });
}
function fail(pool: Pool, b: Backend): void {
  pool.recordProbe(b, { at: Date.now(), ok: false, error: 'connection refused', latencyMs: 1 });
}

describe('Pool', () => {
  let pool: Pool;
  beforeEach(() => { pool = new Pool(log, () => ({ thresholds, passiveHealth, topology, connection: { connectMs: 1000, maxConnections: 16, protocol: upstreamProtocol } })); });
  afterEach(() => {
    pool.close();
    upstreamProtocol = 'http1';
  });

  it('adds newcomers as unknown without traffic and announces them for probing', () => {
    const added: string[] = [];
    pool.events = { added: (b) => added.push(b.url) };
    pool.reconcile('config', [{ url: 'http://a:80', weight: 1 }, { url: 'http://b:80', weight: 1 }]);
    expect(added).to.deep.equal(['http://a:80', 'http://b:80']);
    expect(pool.all.map((b) => b.state)).to.deep.equal(['unknown', 'unknown']);
    expect(pool.candidates).to.have.length(0);
    expect(pool.serving).to.equal(false);
  });

  it('lets a new backend in after its first passing probe', () => {
    pool.reconcile('config', [{ url: 'http://a:80', weight: 1 }]);
    pass(pool, pool.get('http://a:80')!);
    expect(pool.candidates.map((b) => b.url)).to.deep.equal(['http://a:80']);
  });

  it('ejects after unhealthyThreshold failures and readmits after healthyThreshold passes', () => {
    pool.reconcile('config', [{ url: 'http://a:80', weight: 1 }]);
    const a = pool.get('http://a:80')!;
    pass(pool, a);
    fail(pool, a);
    fail(pool, a);
    expect(a.state).to.equal('healthy');
    fail(pool, a);
    expect(a.state).to.equal('unhealthy');
    expect(pool.candidates).to.have.length(0);
    pass(pool, a);
    expect(a.state).to.equal('unhealthy');
    pass(pool, a);
    expect(a.state).to.equal('healthy');
    expect(a.lastProbe?.ok).to.equal(true);
  });

  it('ejects at once on a passive connection failure, and a passing probe brings it back', () => {
    pool.reconcile('config', [{ url: 'http://a:80', weight: 1 }, { url: 'http://b:80', weight: 1 }]);
    const a = pool.get('http://a:80')!;
    for (const b of pool.all) pass(pool, b);
    pool.reportConnectionFailure(a, 'connection refused');
    expect(a.state).to.equal('ejected');
    expect(a.failures).to.equal(1);
    expect(pool.candidates).to.not.include(a);
    pass(pool, a);
    expect(a.state).to.equal('healthy');
    expect(pool.candidates).to.include(a);
  });

  it('counts failures after send and ejects only after consecutiveFailures in a row', () => {
    pool.reconcile('config', [{ url: 'http://a:80', weight: 1 }, { url: 'http://b:80', weight: 1 }]);
    const a = pool.get('http://a:80')!;
    for (const b of pool.all) pass(pool, b);
    pool.reportRequestFailure(a, 'connection reset');
    pool.reportRequestFailure(a, 'connection reset');
    pool.reportSuccess(a);
    pool.reportRequestFailure(a, 'connection reset');
    pool.reportRequestFailure(a, 'connection reset');
    expect(a.state).to.equal('healthy');
    pool.reportRequestFailure(a, 'connection reset');
    expect(a.state).to.equal('ejected');
    expect(a.failures).to.equal(5);
    // A passing probe does not cut a request-failure ejection short: the requests said otherwise.
    pass(pool, a);
    expect(a.state).to.equal('ejected');
  });

  it('never ejects more than maxEjectionPercent of the pool for passive reasons', () => {
    pool.reconcile('config', ['a', 'b', 'c', 'd'].map((n) => ({ url: `http://${n}:80`, weight: 1 })));
    for (const b of pool.all) pass(pool, b);
    for (const b of pool.all) pool.reportConnectionFailure(b, 'connection refused');
    expect(pool.all.filter((b) => b.state === 'ejected')).to.have.length(2);
    expect(pool.candidates).to.have.length(2);
  });

  it('lets the first ejection through even when the cap rounds down to zero', () => {
    pool.reconcile('config', [{ url: 'http://a:80', weight: 1 }]);
    const a = pool.get('http://a:80')!;
    pass(pool, a);
    pool.reportConnectionFailure(a, 'connection refused');
    expect(a.state).to.equal('ejected');
  });

  it('does not hold a probe that failed for a local reason against the backend', () => {
    pool.reconcile('config', [{ url: 'http://a:80', weight: 1 }]);
    const a = pool.get('http://a:80')!;
    pass(pool, a);
    for (let i = 0; i < 5; i++) pool.recordProbe(a, { at: Date.now(), ok: false, error: 'sluice is out of file descriptors (EMFILE)', latencyMs: 0, local: true });
    expect(a.state).to.equal('healthy');
    expect(a.lastProbe?.error).to.match(/EMFILE/);
  });

  it('keeps survivors\' state and counters across a reconcile and updates their weight', () => {
    pool.reconcile('config', [{ url: 'http://a:80', weight: 1 }, { url: 'http://b:80', weight: 1 }]);
    const a = pool.get('http://a:80')!;
    pass(pool, a);
    a.acquire();
    a.release();
    pool.reconcile('config', [{ url: 'http://a:80', weight: 5 }, { url: 'http://c:80', weight: 1 }]);
    expect(pool.get('http://a:80')).to.equal(a);
    expect(a.state).to.equal('healthy');
    expect(a.requests).to.equal(1);
    expect(a.weight).to.equal(5);
    expect(pool.get('http://b:80')).to.equal(undefined);
    expect(pool.get('http://c:80')?.state).to.equal('unknown');
  });

  it('drains a leaver with requests in flight and removes it when the last one finishes', () => {
    const removed: string[] = [];
    pool.events = { removed: (b) => removed.push(b.url) };
    pool.reconcile('config', [{ url: 'http://a:80', weight: 1 }, { url: 'http://b:80', weight: 1 }]);
    const a = pool.get('http://a:80')!;
    pass(pool, a);
    a.acquire();
    pool.reconcile('config', [{ url: 'http://b:80', weight: 1 }]);
    expect(a.state).to.equal('draining');
    expect(pool.candidates).to.not.include(a);
    expect(pool.get('http://a:80')).to.equal(a);
    a.release();
    expect(pool.get('http://a:80')).to.equal(undefined);
    expect(removed).to.deep.equal(['http://a:80']);
  });

  it('brings a draining backend back when a source wants it again', () => {
    pool.reconcile('config', [{ url: 'http://a:80', weight: 1 }]);
    const a = pool.get('http://a:80')!;
    pass(pool, a);
    a.acquire();
    pool.reconcile('config', []);
    expect(a.state).to.equal('draining');
    pool.reconcile('config', [{ url: 'http://a:80', weight: 1 }]);
    expect(a.state).to.equal('healthy');
    a.release();
    expect(pool.get('http://a:80')).to.equal(a);
  });

  it('merges sources and uses terminating backends only when nothing ready is left', () => {
    pool.reconcile('config', [{ url: 'http://a:80', weight: 1 }]);
    pool.reconcile('kubernetes', [{ url: 'http://k1:80', weight: 1 }, { url: 'http://k2:80', weight: 1, terminating: true }]);
    for (const b of pool.all) pass(pool, b);
    expect(pool.get('http://k1:80')?.source).to.equal('kubernetes');
    expect(pool.get('http://k2:80')?.state).to.equal('draining');
    expect(pool.candidates.map((b) => b.url)).to.deep.equal(['http://a:80', 'http://k1:80']);
    pool.reconcile('config', []);
    pool.reconcile('kubernetes', [{ url: 'http://k2:80', weight: 1, terminating: true }]);
    expect(pool.candidates.map((b) => b.url)).to.deep.equal(['http://k2:80']);
    expect(pool.serving).to.equal(true);
  });

  it('does not let one source remove another source\'s backends', () => {
    pool.reconcile('config', [{ url: 'http://a:80', weight: 1 }]);
    pool.reconcile('kubernetes', [{ url: 'http://k:80', weight: 1 }]);
    pool.reconcile('kubernetes', []);
    expect(pool.all.map((b) => b.url)).to.deep.equal(['http://a:80']);
  });

  describe('a protocol change of a surviving backend', () => {
    it('switches it to the protocol its source now names, with a new connection pool, keeping health and counters', () => {
      const logged: Record<string, unknown>[] = [];
      const logging = new Pool(pino({ level: 'info' }, { write: (line: string) => { logged.push(JSON.parse(line) as Record<string, unknown>); } }),
        () => ({ thresholds, passiveHealth, topology, connection: { connectMs: 1000, maxConnections: 16, protocol: 'http1' } }));
      try {
        logging.reconcile('kubernetes', [{ url: 'http://a:80', weight: 1 }]);
        const a = logging.get('http://a:80')!;
        pass(logging, a);
        a.acquire();
        a.release();
        const before = a.dispatcher;
        expect(a.protocol).to.equal('http1');

        logging.reconcile('kubernetes', [{ url: 'http://a:80', weight: 1, protocol: 'h2c' }]);
        expect(logging.get('http://a:80')).to.equal(a);
        expect(a.protocol).to.equal('h2c');
        expect(a.ownProtocol).to.equal('h2c');
        expect(a.dispatcher, 'a connection pool of the new protocol').to.not.equal(before);
        expect(before.closed, 'the old pool closes once its requests are done').to.equal(true);
        expect(a.state).to.equal('healthy');
        expect(a.requests).to.equal(1);
        expect(logging.candidates).to.include(a);
        const changes = logged.filter((l) => l.msg === 'backend protocol changed');
        expect(changes).to.have.length(1);
        expect(changes[0]).to.include({ backend: 'http://a:80', source: 'kubernetes', from: 'http1', protocol: 'h2c' });

        // The source names none any more: back to upstream.protocol.
        const h2 = a.dispatcher;
        logging.reconcile('kubernetes', [{ url: 'http://a:80', weight: 1 }]);
        expect(a.protocol).to.equal('http1');
        expect(a.ownProtocol).to.equal(undefined);
        expect(a.dispatcher).to.not.equal(h2);
        expect(h2.closed).to.equal(true);
        expect(a.state).to.equal('healthy');
      } finally {
        logging.close();
      }
    });

    it('keeps the connection pool when the protocol named is the one it speaks already', () => {
      pool.reconcile('config', [{ url: 'http://a:80', weight: 1 }]);
      const a = pool.get('http://a:80')!;
      const before = a.dispatcher;
      pool.reconcile('config', [{ url: 'http://a:80', weight: 1, protocol: 'http1' }]);
      expect(a.dispatcher).to.equal(before);
      expect(before.closed).to.equal(false);
      expect(a.ownProtocol).to.equal('http1');
      // Now its own: a new upstream.protocol no longer applies to it, but does to the others.
      pool.reconcile('config', [{ url: 'http://a:80', weight: 1, protocol: 'http1' }, { url: 'http://b:80', weight: 1 }]);
      upstreamProtocol = 'h2c';
      pool.settingsChanged();
      expect(a.protocol).to.equal('http1');
      expect(pool.get('http://b:80')!.protocol).to.equal('h2c');
    });

    it('lets a request in flight finish on the old connection pool', async () => {
      const held: ServerResponse[] = [];
      const server = createServer((req, res) => {
        if (req.url === '/held') held.push(res);
        else res.end(`HTTP/${req.httpVersion}`);
      });
      const port = await listenOnLoopback(server);
      try {
        const url = `http://127.0.0.1:${port}`;
        pool.reconcile('config', [{ url, weight: 1 }]);
        const a = pool.get(url)!;
        const old = a.dispatcher;
        const inFlight = request(`${url}/held`, { dispatcher: old });
        await eventually(() => held.length === 1, 'the request to reach the backend');
        pool.reconcile('config', [{ url, weight: 1, protocol: 'h2c' }]);
        expect(a.dispatcher).to.not.equal(old);
        held[0].end('finished');
        const res = await inFlight;
        expect(res.statusCode).to.equal(200);
        expect(await res.body.text()).to.equal('finished');
        expect(old.closed).to.equal(true);
      } finally {
        server.closeAllConnections();
        await new Promise((resolve) => server.close(resolve));
      }
    });
  });

  describe('zone preference (topology)', () => {
    const zoned = (name: string, zone: string, forZones?: string[]) => ({ url: `http://${name}:80`, weight: 1, meta: { zone, ...(forZones ? { forZones } : {}) } });
    afterEach(() => { topology = { zone: '', preferSameZone: true }; });

    it('sends traffic to same-zone backends while one is ready, and to all when none is', () => {
      topology = { zone: 'z1', preferSameZone: true };
      pool.reconcile('kubernetes', [zoned('a', 'z1'), zoned('b', 'z2'), zoned('c', 'z2')]);
      for (const b of pool.all) pass(pool, b);
      expect(pool.candidates.map((b) => b.url)).to.deep.equal(['http://a:80']);
      expect(pool.topologyStatus()).to.deep.equal({ zone: 'z1', preferSameZone: true, mode: 'same zone' });
      pool.reportConnectionFailure(pool.get('http://a:80')!, 'connection refused');
      expect(pool.candidates.map((b) => b.url)).to.deep.equal(['http://b:80', 'http://c:80']);
      expect(pool.topologyStatus().mode).to.equal('all zones (none ready for this zone)');
    });

    it('follows EndpointSlice hints when every ready backend has them', () => {
      topology = { zone: 'z1', preferSameZone: true };
      pool.reconcile('kubernetes', [zoned('a', 'z1', ['z2']), zoned('b', 'z2', ['z1']), zoned('c', 'z2', ['z2'])]);
      for (const b of pool.all) pass(pool, b);
      expect(pool.candidates.map((b) => b.url)).to.deep.equal(['http://b:80']);
      expect(pool.topologyStatus().mode).to.equal('hints');
    });

    it('uses every zone without a zone of its own or with preferSameZone off', () => {
      pool.reconcile('kubernetes', [zoned('a', 'z1'), zoned('b', 'z2')]);
      for (const b of pool.all) pass(pool, b);
      expect(pool.candidates).to.have.length(2);
      topology = { zone: 'z1', preferSameZone: false };
      pool.settingsChanged();
      expect(pool.candidates).to.have.length(2);
      topology = { zone: 'z1', preferSameZone: true };
      pool.settingsChanged();
      expect(pool.candidates.map((b) => b.url)).to.deep.equal(['http://a:80']);
    });
  });
});
