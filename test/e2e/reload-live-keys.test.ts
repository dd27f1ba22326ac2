// Issue 7, failure 7: timeouts.clientIdle was never applied on reload (the docs say timeouts are
// live), and a shorter health-check interval waited for the old timer. Now one runtime snapshot
// is swapped whole on reload: every key applies at once, and the keys that need a restart
// (listen, admin.listen, discovery) are named in a warning and in /status config.pendingRestart.
// Each test starts with a value under which its check cannot pass, then reloads the new one.

import { expect } from 'chai';
import { request } from 'undici';
import { eventually } from '../helpers/eventually.ts';
import { harnessPerTest } from '../helpers/harness.ts';
import { configWithProbes, RawClient, steadyConfig } from '../helpers/raw-http.ts';
import type { SluiceProcess } from '../helpers/sluice-process.ts';

async function reload(sluice: SluiceProcess, text: string): Promise<void> {
  const before = sluice.logs.filter((l) => l.msg === 'config reloaded').length;
  sluice.rewriteConfig(text);
  await eventually(() => sluice.logs.filter((l) => l.msg === 'config reloaded').length > before, 'the reload to be applied');
}

async function get(url: string): Promise<{ status: number; body: string }> {
  const res = await request(url);
  return { status: res.statusCode, body: await res.body.text() };
}

describe('reload applies every live key (e2e)', () => {
  const clients: RawClient[] = [];
  afterEach(() => { for (const c of clients.splice(0)) c.destroy(); });
  const h = harnessPerTest();

  it('applies timeouts.clientIdle: keep-alive connections close after the new idle time', async () => {
    const sluice = await h.start(1, { config: (urls) => steadyConfig(urls, 'timeouts:\n  clientIdle: 1m') });
    await reload(sluice, steadyConfig(h.backends.map((b) => b.url), 'timeouts:\n  clientIdle: 300ms'));
    const client = await RawClient.open(sluice.proxy);
    clients.push(client);
    client.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    const [res] = await client.waitForResponses(1, 'the answer');
    expect(res.status).to.equal(200);
    // Under the old minute this connection would stay open for the whole test.
    await client.waitForClose('sluice to close the idle keep-alive connection');
  });

  it('applies timeouts.response: a slow backend answer becomes 504', async () => {
    const sluice = await h.start(1, { config: (urls) => steadyConfig(urls, 'timeouts:\n  response: 1m') });
    await reload(sluice, steadyConfig(h.backends.map((b) => b.url), 'timeouts:\n  response: 300ms'));
    const res = await get(sluice.proxyUrl + '/slow?ms=5000');
    expect(res.status).to.equal(504);
  });

  it('applies retries: with retries 0 a refused connection is not retried elsewhere', async () => {
    // Probes every minute, so only real traffic can find out that b2 died.
    const probes = { interval: '1m', timeout: '1s', healthyThreshold: 1, unhealthyThreshold: 2 };
    const sluice = await h.start(2, { config: (urls) => configWithProbes(probes, 'retries: 2', urls) });
    const urls = h.backends.map((b) => b.url);
    await reload(sluice, configWithProbes(probes, 'retries: 0', urls));
    await h.backends[1].kill();
    const statuses = [(await get(sluice.proxyUrl + '/')).status, (await get(sluice.proxyUrl + '/')).status];
    // Round robin sends one of the two to the dead b2; with retries 2 it would have been retried on b1.
    expect(statuses.sort()).to.deep.equal([200, 502]);
  });

  it('applies balancer: weighted-round-robin takes over with the configured weights', async () => {
    const withWeights = (balancer: string, [b1, b2]: string[]): string =>
      steadyConfig([], `balancer: ${balancer}`).replace('backends:\n', `backends:\n  - url: ${b1}\n    weight: 3\n  - url: ${b2}\n    weight: 1\n`);
    const sluice = await h.start(2, { config: (urls) => withWeights('round-robin', urls) });
    const before: string[] = [];
    for (let i = 0; i < 8; i++) before.push((await get(sluice.proxyUrl + '/')).body.trim());
    expect(before.filter((b) => b === 'b1')).to.have.length(4);
    await reload(sluice, withWeights('weighted-round-robin', h.backends.map((b) => b.url)));
    expect((await sluice.status()).balancer).to.equal('weighted-round-robin');
    const after: string[] = [];
    for (let i = 0; i < 8; i++) after.push((await get(sluice.proxyUrl + '/')).body.trim());
    expect(after.filter((b) => b === 'b1'), after.join(' ')).to.have.length(6);
  });

  it('applies a shorter healthCheck.interval at once, without waiting for the old timer', async () => {
    const slow = { interval: '1m', timeout: '1s', healthyThreshold: 1, unhealthyThreshold: 1 };
    const sluice = await h.start(1, { config: (urls) => configWithProbes(slow, '', urls) });
    const backend = h.backends[0];
    backend.healthStatus = 500;
    await reload(sluice, configWithProbes({ ...slow, interval: '200ms', timeout: '200ms' }, '', [backend.url]));
    // The old timer has most of a minute left.
    await eventually(async () => (await sluice.backend(backend.url))?.state === 'unhealthy', 'the failing probe on the new interval');
  });

  it('names listen in a warning and in /status pendingRestart, keeps serving, and still applies the live keys', async () => {
    const sluice = await h.start(1, { config: (urls) => steadyConfig(urls, 'timeouts:\n  response: 1m') });
    const urls = h.backends.map((b) => b.url);
    const changed = steadyConfig(urls, 'timeouts:\n  response: 300ms').replace('listen: "127.0.0.1:0"', 'listen: "127.0.0.1:1"');
    await reload(sluice, changed);
    const status = await sluice.status();
    expect((status.config as unknown as { pendingRestart: string[] }).pendingRestart).to.deep.equal(['listen']);
    expect(sluice.logs.some((l) => l.level === 'warn' && l.msg === 'this setting changes only on restart' && l.key === 'listen')).to.equal(true);
    expect((await get(sluice.proxyUrl + '/')).status).to.equal(200);
    expect((await get(sluice.proxyUrl + '/slow?ms=5000')).status).to.equal(504);
  });
});
