// Issue 7, failure 1: one request whose handler crashes the backend connection (a "query of
// death") was retried on every backend, each reset ejected that backend at once, and every other
// client got 503 until the probes readmitted them. Now the request costs one 502, reaches at most
// two backends, and no flood of it can take out more than half the pool.

import { expect } from 'chai';
import { request } from 'undici';
import { eventually } from '../helpers/eventually.ts';
import { cleanupPerTest, rawOk, startRawBackends, startSluice, steadyConfig, type RawBackend, type RawHandler } from '../helpers/raw-http.ts';

/** `/boom` closes the connection without answering, as a crashing handler does; `/` answers 200. */
const crashOnBoom: RawHandler = (req, socket, backend) => {
  if (req.path === '/boom') {
    socket.destroy();
    return 'detach';
  }
  socket.write(rawOk(`${backend.name}\n`, 200, `X-Backend: ${backend.name}\r\n`));
};

async function get(url: string): Promise<{ status: number; body: string }> {
  const res = await request(url);
  return { status: res.statusCode, body: await res.body.text() };
}

function booms(backends: RawBackend[]): number {
  return backends.reduce((sum, b) => sum + b.count('/boom'), 0);
}

describe('query of death (e2e)', () => {
  const cleanup = cleanupPerTest();

  it('answers one /boom with 502 after reaching at most 2 backends, and the next 30 requests all succeed', async () => {
    const backends = cleanup.add(await startRawBackends(3, crashOnBoom), (bs) => Promise.all(bs.map((b) => b.kill())));
    const sluice = await startSluice(cleanup, steadyConfig(backends.map((b) => b.url)), 3);

    const boom = await get(sluice.proxyUrl + '/boom');
    expect(boom.status).to.equal(502);
    const reached = booms(backends);
    expect(reached, 'backends the one /boom reached').to.be.within(1, 2);

    const seen: string[] = [];
    for (let i = 0; i < 30; i++) {
      const res = await get(sluice.proxyUrl + '/');
      expect(res.status, `request ${i + 1} after the /boom: ${res.body}`).to.equal(200);
      seen.push(res.body.trim());
    }
    // Nobody was taken out: round robin still spreads over all three.
    for (const b of backends) expect(seen.filter((s) => s === b.name), b.name).to.have.length(10);

    const status = await sluice.status();
    expect(status.backends.map((b) => b.state)).to.deep.equal(['healthy', 'healthy', 'healthy']);
    const blamed = status.backends.filter((b) => b.failures > 0);
    expect(blamed).to.have.length(reached);
    for (const b of blamed) {
      expect(b.lastErrorAt, 'lastErrorAt of a backend the /boom reached').to.be.a('string');
      expect(b.ejectedUntil).to.equal(null);
    }
    expect(booms(backends)).to.equal(reached);
  });

  it('never ejects more than half the pool under a flood of /boom, and keeps serving everyone else', async () => {
    const backends = cleanup.add(await startRawBackends(3, crashOnBoom), (bs) => Promise.all(bs.map((b) => b.kill())));
    const sluice = await startSluice(cleanup, steadyConfig(backends.map((b) => b.url)), 3);

    // Watch /status while the flood runs: the cap must hold at every moment we can see.
    let maxEjected = 0;
    let flooding = true;
    const watcher = (async () => {
      while (flooding) {
        const status = await sluice.status();
        maxEjected = Math.max(maxEjected, status.backends.filter((b) => b.state === 'ejected').length);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    })();
    const answers: number[] = [];
    let issued = 0;
    await Promise.all(Array.from({ length: 6 }, async () => {
      while (issued < 60) {
        issued++;
        answers.push((await get(sluice.proxyUrl + '/boom')).status);
      }
    }));
    flooding = false;
    await watcher;

    expect([...new Set(answers)], 'what the /boom flood got').to.deep.equal([502]);
    // 60 requests that each fail on up to two backends make every backend fail 5 times in a row
    // (passiveHealth.consecutiveFailures): the cap, floor(3 × 50%) = 1, is what kept two in.
    const status = await sluice.status();
    const ejected = status.backends.filter((b) => b.state === 'ejected');
    expect(ejected, 'ejected after the flood').to.have.length(1);
    expect(ejected[0].ejectedUntil).to.be.a('string');
    expect(maxEjected, 'most backends ejected at once during the flood').to.be.at.most(1);
    expect(sluice.logs.some((l) => l.msg === 'backend not ejected: ejection cap reached'), 'the cap was reached').to.equal(true);

    expect((await request(sluice.adminUrl + '/readyz')).statusCode).to.equal(200);
    for (let i = 0; i < 30; i++) {
      const res = await get(sluice.proxyUrl + '/');
      expect(res.status, `request ${i + 1} after the flood: ${res.body}`).to.equal(200);
    }
    await eventually(async () => (await sluice.status()).backends.every((b) => b.inflight === 0), 'inflight to return to 0');
  });
});
