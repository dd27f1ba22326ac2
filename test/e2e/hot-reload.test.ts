import { expect } from 'chai';
import { request } from 'undici';
import { eventually } from '../helpers/eventually.ts';
import { LoadLoop } from '../helpers/load.ts';
import { startBackends, type TestBackend } from '../helpers/test-backend.ts';
import { SluiceProcess, testConfig } from '../helpers/sluice-process.ts';

describe('hot reload (e2e)', () => {
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

  it('adds and removes backends under load without a failed request', async () => {
    backends = await startBackends(3);
    const [b1, b2, b3] = backends;
    sluice = await new SluiceProcess(testConfig([b1.url, b2.url])).start(2);
    load = new LoadLoop(sluice.proxyUrl + '/', 8, 30_000, 25_000).start();
    await eventually(() => load!.ok > 200, 'load to get going');

    // Add b3 (watched file change, no signal).
    sluice.rewriteConfig(testConfig([b1.url, b2.url, b3.url]));
    await sluice.waitForHealthy(3);
    await eventually(() => (load!.result.byBackend.get('b3') ?? 0) > 50, 'b3 to take traffic');
    const b1Requests = (await sluice.backend(b1.url))!.requests;

    // Remove b1: it drains and disappears; the others keep their counters and health.
    sluice.rewriteConfig(testConfig([b2.url, b3.url]));
    await eventually(async () => (await sluice!.status()).backends.length === 2, 'b1 to be removed');
    const before = load.ok;
    await eventually(() => load!.ok > before + 300, 'more traffic after the removal');
    const result = await load.stop();
    expect(result.failures, result.failures.slice(0, 5).join('; ')).to.deep.equal([]);

    const status = await sluice.status();
    expect(status.backends.map((b) => b.url)).to.deep.equal([b2.url, b3.url]);
    expect(status.backends.every((b) => b.healthy)).to.equal(true);
    expect(status.backends[0].requests).to.be.greaterThan(b1Requests / 2);
    expect(status.config.lastReloadError).to.equal(null);
    expect(sluice.logs.filter((l) => l.msg === 'config reloaded')).to.have.length(2);
    expect(sluice.logs.some((l) => l.msg === 'backend removed' && l.backend === b1.url)).to.equal(true);
  });

  it('lets a removed backend finish its in-flight request', async () => {
    backends = await startBackends(2);
    const [b1, b2] = backends;
    sluice = await new SluiceProcess(testConfig([b1.url])).start(1);
    const slow = request(`${sluice.proxyUrl}/slow?ms=800`);
    await eventually(async () => (await sluice!.backend(b1.url))?.inflight === 1, 'the slow request to be in flight');
    sluice.rewriteConfig(testConfig([b2.url]));
    await eventually(async () => (await sluice!.backend(b1.url))?.state === 'draining', 'b1 to drain');
    const res = await slow;
    expect(res.statusCode).to.equal(200);
    expect(await res.body.text()).to.equal('b1 slow 800\n');
    await eventually(async () => (await sluice!.backend(b1.url)) === undefined, 'b1 to be gone once drained');
  });

  it('rejects an invalid config, keeps serving the old one and shows the error in /status', async () => {
    backends = await startBackends(2);
    sluice = await new SluiceProcess(testConfig(backends.map((b) => b.url))).start(2);
    sluice.rewriteConfig('backends:\n  - url: not a url\nhealthCheck:\n  interval: 5\n');
    const status = await eventually(async () => {
      const s = await sluice!.status();
      return s.config.lastReloadError ? s : undefined;
    }, 'the reload error to show');
    expect(status.config.lastReloadError?.message).to.match(/config\.yaml:2:\d+: backends\[0\]\.url/);
    expect(status.config.lastReloadError?.message).to.match(/healthCheck\.interval: 5 has no unit/);
    expect(status.backends.map((b) => b.url)).to.deep.equal(backends.map((b) => b.url));
    const res = await request(sluice.proxyUrl + '/');
    expect(res.statusCode).to.equal(200);
    await res.body.text();
    expect(sluice.logs.some((l) => l.level === 'error' && l.msg.startsWith('config reload rejected'))).to.equal(true);

    // A later valid config clears the error.
    sluice.rewriteConfig(testConfig([backends[0].url]));
    await eventually(async () => (await sluice!.status()).config.lastReloadError === null, 'the error to clear');
  });

  it('re-reads the config on SIGHUP', async () => {
    backends = await startBackends(1);
    sluice = await new SluiceProcess(testConfig(backends.map((b) => b.url))).start(1);
    sluice.signal('SIGHUP');
    await sluice.waitForLog((l) => l.msg === 'config reloaded', 'a reload after SIGHUP');
    expect(sluice.exitCode).to.equal(null);
  });
});
