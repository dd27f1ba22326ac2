import { expect } from 'chai';
import { request } from 'undici';
import { eventually } from '../helpers/eventually.ts';
import { harnessPerTest } from '../helpers/harness.ts';
import { testConfig } from '../helpers/sluice-process.ts';

describe('backend failures (e2e)', () => {
  const h = harnessPerTest();

  it('costs clients no errors when a backend is killed mid-load', async () => {
    const sluice = await h.start(3);
    const backends = h.backends;
    const load = h.load('/', 16, 20_000, 20_000);
    await eventually(() => load.ok > 300, 'load to get going');
    await backends[1].kill();
    const before = load.ok;
    await eventually(() => load.ok > before + 1000, 'more requests after the kill');
    const result = await load.stop();
    expect(result.failures, result.failures.slice(0, 5).join('; ')).to.deep.equal([]);
    const status = await sluice.status();
    // Ejected by the first refused connection, or marked unhealthy by the probes: out either way.
    expect(status.backends.find((b) => b.url === backends[1].url)?.state).to.be.oneOf(['ejected', 'unhealthy']);
    // The survivors took the traffic after the kill.
    expect(result.byBackend.get('b1')).to.be.greaterThan(300);
    expect(result.byBackend.get('b3')).to.be.greaterThan(300);
  });

  it('answers 504 when the backend sends no response headers within timeouts.response', async () => {
    const sluice = await h.start(1, { extra: 'timeouts:\n  response: 300ms' });
    const backends = h.backends;
    const res = await request(sluice.proxyUrl + '/slow?ms=3000');
    expect(res.statusCode).to.equal(504);
    expect(await res.body.text()).to.match(/did not answer in time/);
    const b = await sluice.backend(backends[0].url);
    expect(b?.failures).to.equal(1);
    // A slow answer is not a dead backend: it stays in rotation.
    expect(b?.state).to.equal('healthy');
    const fast = await request(sluice.proxyUrl + '/slow?ms=10');
    expect(fast.statusCode).to.equal(200);
    await fast.body.text();
  });

  it('answers 502 when every backend fails and retries are used up', async () => {
    const sluice = await h.start(2, { config: (urls) => testConfig(urls).replace('interval: 300ms', 'interval: 1m').replace('timeout: 300ms', 'timeout: 2s') });
    const backends = h.backends;
    await Promise.all(backends.map((b) => b.kill()));
    const res = await request(sluice.proxyUrl + '/');
    expect(res.statusCode).to.equal(502);
    expect(await res.body.text()).to.match(/could not be reached/);
    // passiveHealth.maxEjectionPercent (50) lets traffic eject only one of the two; the other
    // stays a candidate until the probes say otherwise, so the next request tries it and gets 502.
    const status = await sluice.status();
    expect(status.backends.map((b) => b.state).sort()).to.deep.equal(['ejected', 'healthy']);
    const next = await request(sluice.proxyUrl + '/');
    expect(next.statusCode).to.equal(502);
    await next.body.text();
  });

  it('aborts the upstream request when the client disconnects, and inflight returns to 0', async () => {
    const sluice = await h.start(1);
    const backends = h.backends;
    const controller = new AbortController();
    const pending = request(sluice.proxyUrl + '/hang', { signal: controller.signal }).catch((err: Error) => err);
    await eventually(() => backends[0].hangsOpen === 1, 'the request to reach the backend');
    expect((await sluice.backend(backends[0].url))?.inflight).to.equal(1);
    controller.abort();
    expect(await pending).to.be.instanceOf(Error);
    await eventually(() => backends[0].hangsAborted === 1, 'the backend to see the abort');
    await eventually(async () => (await sluice.backend(backends[0].url))?.inflight === 0, 'inflight to return to 0');
  });
});
