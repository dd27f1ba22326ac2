import { expect } from 'chai';
import { request } from 'undici';
import { harnessPerTest } from '../helpers/harness.ts';
import { testConfig } from '../helpers/sluice-process.ts';

async function getText(url: string): Promise<string> {
  const res = await request(url);
  return (await res.body.text()).trim();
}

describe('round robin (e2e)', () => {
  const h = harnessPerTest();

  it('rotates requests across all healthy backends in strict order', async () => {
    const sluice = await h.start(3);
    const backends = h.backends;
    const seen: string[] = [];
    for (let i = 0; i < 30; i++) seen.push(await getText(sluice.proxyUrl + '/'));
    // Strict rotation: every window of three consecutive answers names each backend once.
    for (let i = 0; i + 3 <= seen.length; i++) expect(new Set(seen.slice(i, i + 3)).size, `window at ${i}: ${seen.slice(i, i + 3)}`).to.equal(3);
    const status = await sluice.status();
    expect(status.backends.map((b) => b.requests)).to.deep.equal([10, 10, 10]);
  });

  it('keeps the origin /status shape: url, healthy and requests per backend', async () => {
    const sluice = await h.start(2);
    const backends = h.backends;
    await getText(sluice.proxyUrl + '/');
    const status = await sluice.status();
    expect(status.backends).to.have.length(2);
    for (const b of status.backends) {
      expect(b).to.include.keys('url', 'healthy', 'requests', 'state', 'inflight', 'failures', 'weight', 'source', 'lastProbe');
      expect(b.healthy).to.equal(true);
      expect(b.state).to.equal('healthy');
      expect(b.source).to.equal('config');
    }
    expect(status.backends.map((b) => b.url)).to.deep.equal(backends.map((b) => b.url));
    expect(status.backends.reduce((n, b) => n + b.requests, 0)).to.equal(1);
    expect(status).to.include.keys('ready', 'uptimeSeconds', 'config');
    expect(status.config.file).to.equal(sluice.configPath);
  });

  it('spreads weighted-round-robin in proportion to weight without bursts', async () => {
    const sluice = await h.start(2, {
      config: ([b1, b2]) => testConfig([], 'balancer: weighted-round-robin').replace('backends:\n', `backends:\n  - url: ${b1}\n    weight: 3\n  - url: ${b2}\n    weight: 1\n`),
    });
    const seen: string[] = [];
    for (let i = 0; i < 40; i++) seen.push(await getText(sluice.proxyUrl + '/'));
    expect(seen.filter((s) => s === 'b1').length).to.equal(30);
    expect(seen.filter((s) => s === 'b2').length).to.equal(10);
    // Smooth: the light backend appears once in every window of four.
    for (let i = 0; i + 4 <= seen.length; i += 4) expect(seen.slice(i, i + 4).filter((s) => s === 'b2')).to.have.length(1);
  });
});
