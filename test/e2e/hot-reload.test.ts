import { expect } from 'chai';
import { request } from 'undici';
import { eventually } from '../helpers/eventually.ts';
import { harnessPerTest } from '../helpers/harness.ts';
import { testConfig } from '../helpers/sluice-process.ts';

describe('hot reload (e2e)', () => {
  const h = harnessPerTest();

  it('adds and removes backends under load without a failed request', async () => {
    const sluice = await h.start(3, { config: ([u1, u2]) => testConfig([u1, u2]), healthy: 2 });
    const [b1, b2, b3] = h.backends;
    const load = h.load();
    await eventually(() => load.ok > 200, 'load to get going');

    // Add b3 (watched file change, no signal).
    sluice.rewriteConfig(testConfig([b1.url, b2.url, b3.url]));
    await sluice.waitForHealthy(3);
    await eventually(() => (load.result.byBackend.get('b3') ?? 0) > 50, 'b3 to take traffic');
    const b1Requests = (await sluice.backend(b1.url))!.requests;

    // Remove b1: it drains and disappears; the others keep their counters and health.
    sluice.rewriteConfig(testConfig([b2.url, b3.url]));
    await eventually(async () => (await sluice.status()).backends.length === 2, 'b1 to be removed');
    const before = load.ok;
    await eventually(() => load.ok > before + 300, 'more traffic after the removal');
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
    const sluice = await h.start(2, { config: ([u1]) => testConfig([u1]), healthy: 1 });
    const [b1, b2] = h.backends;
    const slow = request(`${sluice.proxyUrl}/slow?ms=800`);
    await eventually(async () => (await sluice.backend(b1.url))?.inflight === 1, 'the slow request to be in flight');
    sluice.rewriteConfig(testConfig([b2.url]));
    await eventually(async () => (await sluice.backend(b1.url))?.state === 'draining', 'b1 to drain');
    const res = await slow;
    expect(res.statusCode).to.equal(200);
    expect(await res.body.text()).to.equal('b1 slow 800\n');
    await eventually(async () => (await sluice.backend(b1.url)) === undefined, 'b1 to be gone once drained');
  });

  it('rejects an invalid config, keeps serving the old one and shows the error in /status', async () => {
    const sluice = await h.start(2);
    const backends = h.backends;
    sluice.rewriteConfig('backends:\n  - url: not a url\nhealthCheck:\n  interval: 5\n');
    const status = await eventually(async () => {
      const s = await sluice.status();
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
    await eventually(async () => (await sluice.status()).config.lastReloadError === null, 'the error to clear');
  });

  it('re-reads the config on SIGHUP', async () => {
    const sluice = await h.start(1);
    const backends = h.backends;
    sluice.signal('SIGHUP');
    await sluice.waitForLog((l) => l.msg === 'config reloaded', 'a reload after SIGHUP');
    expect(sluice.exitCode).to.equal(null);
  });
});
