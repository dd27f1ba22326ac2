import { expect } from 'chai';
import { request } from 'undici';
import { eventually } from '../helpers/eventually.ts';
import { LoadLoop } from '../helpers/load.ts';
import { startBackends, type TestBackend } from '../helpers/test-backend.ts';
import { SluiceProcess, testConfig } from '../helpers/sluice-process.ts';

describe('backend failures (e2e)', () => {
  let backends: TestBackend[] = [];
  let sluice: SluiceProcess | undefined;
  let load: LoadLoop | undefined;

  afterEach(async () => {
    await load?.stop();
    await sluice?.stop();
    await Promise.all(backends.map((b) => b.kill()));
    load = undefined;
    sluice = undefined;
    backends = [];
  });

  it('costs clients no errors when a backend is killed mid-load', async () => {
    backends = await startBackends(3);
    sluice = await new SluiceProcess(testConfig(backends.map((b) => b.url))).start(3);
    load = new LoadLoop(sluice.proxyUrl + '/', 16, 20_000, 20_000).start();
    await eventually(() => load!.ok > 300, 'load to get going');
    await backends[1].kill();
    const before = load.ok;
    await eventually(() => load!.ok > before + 1000, 'more requests after the kill');
    const result = await load.stop();
    expect(result.failures, result.failures.slice(0, 5).join('; ')).to.deep.equal([]);
    const status = await sluice.status();
    expect(status.backends.find((b) => b.url === backends[1].url)?.state).to.equal('unhealthy');
    // The survivors took the traffic after the kill.
    expect(result.byBackend.get('b1')).to.be.greaterThan(300);
    expect(result.byBackend.get('b3')).to.be.greaterThan(300);
  });

  it('answers 504 when the backend sends no response headers within timeouts.response', async () => {
    backends = await startBackends(1);
    sluice = await new SluiceProcess(testConfig(backends.map((b) => b.url), 'timeouts:\n  response: 300ms')).start(1);
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
    backends = await startBackends(2);
    const config = testConfig(backends.map((b) => b.url)).replace('interval: 100ms', 'interval: 1m');
    sluice = await new SluiceProcess(config).start(2);
    await Promise.all(backends.map((b) => b.kill()));
    const res = await request(sluice.proxyUrl + '/');
    expect(res.statusCode).to.equal(502);
    expect(await res.body.text()).to.match(/could not be reached/);
    const status = await sluice.status();
    expect(status.backends.every((b) => b.state === 'unhealthy')).to.equal(true);
    const next = await request(sluice.proxyUrl + '/');
    expect(next.statusCode).to.equal(503);
    await next.body.text();
  });

  it('aborts the upstream request when the client disconnects, and inflight returns to 0', async () => {
    backends = await startBackends(1);
    sluice = await new SluiceProcess(testConfig(backends.map((b) => b.url))).start(1);
    const controller = new AbortController();
    const pending = request(sluice.proxyUrl + '/hang', { signal: controller.signal }).catch((err: Error) => err);
    await eventually(() => backends[0].hangsOpen === 1, 'the request to reach the backend');
    expect((await sluice.backend(backends[0].url))?.inflight).to.equal(1);
    controller.abort();
    expect(await pending).to.be.instanceOf(Error);
    await eventually(() => backends[0].hangsAborted === 1, 'the backend to see the abort');
    await eventually(async () => (await sluice!.backend(backends[0].url))?.inflight === 0, 'inflight to return to 0');
  });
});
