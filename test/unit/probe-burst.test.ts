// A large pool is probed in one burst (at start and every interval): the prober keeps at most
// 32 probes in flight, so 1,000 endpoints do not open 1,000 sockets at once.

import { expect } from 'chai';
import { createServer, type Server, type ServerResponse } from 'node:http';
import { pino } from 'pino';
import { DEFAULTS } from '../../src/config/config.ts';
import { ActiveProber } from '../../src/health/active-prober.ts';
import { Pool } from '../../src/pool/pool.ts';
import { eventually } from '../helpers/eventually.ts';
import { listenOnLoopback } from '../helpers/loopback.ts';

describe('ActiveProber under a burst', () => {
  const servers: Server[] = [];
  let pool: Pool | undefined;
  let prober: ActiveProber | undefined;
  afterEach(async () => {
    prober?.close();
    pool?.close();
    await Promise.all(servers.splice(0).map((s) => new Promise((resolve) => { s.closeAllConnections(); s.close(resolve); })));
  });

  it('keeps at most 32 probes in flight and still probes every backend', async () => {
    const held: ServerResponse[] = [];
    let inFlight = 0;
    let maxInFlight = 0;
    const urls: string[] = [];
    for (let i = 0; i < 40; i++) {
      const server = createServer((_req, res) => {
        inFlight++;
        maxInFlight = Math.max(maxInFlight, inFlight);
        res.once('close', () => { inFlight--; });
        held.push(res);
      });
      servers.push(server);
      urls.push(`http://127.0.0.1:${await listenOnLoopback(server)}`);
    }
    const healthCheck = { ...DEFAULTS.healthCheck, intervalMs: 60_000, timeoutMs: 30_000, healthyThreshold: 1 };
    pool = new Pool(pino({ level: 'silent' }), () => ({
      thresholds: healthCheck,
      passiveHealth: DEFAULTS.passiveHealth,
      topology: { zone: '', preferSameZone: true },
      connection: { connectMs: 1000, maxConnections: 16, protocol: 'http1' },
    }));
    const p = new ActiveProber(pool, () => healthCheck);
    prober = p;
    pool.events = { added: (b) => p.start(b) };
    pool.reconcile('config', urls.map((url) => ({ url, weight: 1 })));

    await eventually(() => held.length === 32, '32 probes to be held by their backends');
    expect(inFlight).to.equal(32);
    // Answer the first batch: the 8 waiting probes go out, and no more than 32 at any time.
    for (const res of held.splice(0)) res.end('ok');
    await eventually(() => held.length === 8, 'the 8 waiting probes to arrive');
    for (const res of held.splice(0)) res.end('ok');
    await eventually(() => pool!.candidates.length === 40, 'every backend healthy');
    expect(maxInFlight).to.equal(32);
  });
});
