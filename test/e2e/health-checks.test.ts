import { expect } from 'chai';
import { request } from 'undici';
import { eventually } from '../helpers/eventually.ts';
import { harnessPerTest } from '../helpers/harness.ts';
import { TestBackend } from '../helpers/test-backend.ts';
import { testConfig } from '../helpers/sluice-process.ts';

describe('health checks (e2e)', () => {
  const h = harnessPerTest();

  it('drops a backend after 2 failed probes and returns it after 2 passing ones', async () => {
    const sluice = await h.start(2);
    const backends = h.backends;
    const sick = backends[1];
    sick.healthStatus = 503;
    const down = await eventually(async () => {
      const b = await sluice.backend(sick.url);
      return b?.state === 'unhealthy' ? b : undefined;
    }, 'the sick backend to be ejected');
    expect(down.healthy).to.equal(false);
    expect(down.lastProbe?.status).to.equal(503);
    expect(down.lastProbe?.ok).to.equal(false);
    const log = await sluice.waitForLog((l) => l.msg === 'backend state changed' && l.state === 'unhealthy', 'a state-change log line');
    expect(log.backend).to.equal(sick.url);

    // While it is out, every request goes to the healthy one.
    for (let i = 0; i < 6; i++) {
      const res = await request(sluice.proxyUrl + '/');
      expect((await res.body.text()).trim()).to.equal('b1');
    }

    sick.healthStatus = 200;
    await sluice.waitForHealthy(2);
    const back = await sluice.backend(sick.url);
    expect(back?.state).to.equal('healthy');
  });

  it('answers 503 and turns /readyz to 503 when every backend is down', async () => {
    const sluice = await h.start(2);
    const backends = h.backends;
    expect((await request(sluice.adminUrl + '/readyz')).statusCode).to.equal(200);
    for (const b of backends) b.healthStatus = 500;
    await eventually(async () => (await sluice.status()).backends.every((b) => b.state === 'unhealthy'), 'all backends unhealthy');
    const res = await request(sluice.proxyUrl + '/');
    expect(res.statusCode).to.equal(503);
    expect(await res.body.text()).to.match(/no healthy backend/);
    const ready = await request(sluice.adminUrl + '/readyz');
    expect(ready.statusCode).to.equal(503);
    expect(await ready.body.text()).to.match(/no healthy backend/);
    expect((await request(sluice.adminUrl + '/healthz')).statusCode).to.equal(200);
    expect((await sluice.status()).ready).to.equal(false);
  });

  it('sends no traffic to a backend that never passed a probe', async () => {
    const dead = new TestBackend('dead');
    await dead.start();
    await dead.kill(); // a port that refuses connections
    const sluice = await h.start(1, { config: ([url]) => testConfig([url, dead.url]) });
    const status = await sluice.status();
    const never = status.backends.find((b) => b.url === dead.url);
    expect(never?.healthy).to.equal(false);
    expect(['unknown', 'unhealthy']).to.include(never?.state);
    for (let i = 0; i < 5; i++) expect((await request(sluice.proxyUrl + '/')).statusCode).to.equal(200);
    expect((await sluice.backend(dead.url))?.requests).to.equal(0);
  });

  it('ejects a backend that refuses connections at once from real traffic', async () => {
    // Probes far apart, so only passive health can notice the failure quickly.
    const sluice = await h.start(2, { config: (urls) => testConfig(urls).replace('interval: 300ms', 'interval: 1m').replace('timeout: 300ms', 'timeout: 2s') });
    const backends = h.backends;
    await backends[0].kill();
    for (let i = 0; i < 4; i++) {
      const res = await request(sluice.proxyUrl + '/');
      expect(res.statusCode).to.equal(200);
      expect((await res.body.text()).trim()).to.equal('b2');
    }
    const b1 = await sluice.backend(backends[0].url);
    expect(b1?.state).to.equal('ejected');
    expect(b1?.failures).to.be.greaterThan(0);
  });
});
