// Takes docs/status-page.png: the real sluice in front of eight test backends in different states
// (healthy, failing probes, killed, draining, slow), some traffic for a minute, then a headless
// Chromium screenshot of the admin listener's status page.
//
//   node scripts/status-page-screenshot.ts [seconds of traffic, default 60]

import { fileURLToPath } from 'node:url';
import { Agent, request } from 'undici';
import { launchChromium } from '../test/helpers/chromium.ts';
import { eventually } from '../test/helpers/eventually.ts';
import { SluiceProcess } from '../test/helpers/sluice-process.ts';
import { startBackends } from '../test/helpers/test-backend.ts';

const OUT = fileURLToPath(new URL('../docs/status-page.png', import.meta.url));
const seconds = Number(process.argv[2] ?? '60');

const config = (urls: string[]): string => [
  'listen: "127.0.0.1:0"',
  'admin:',
  '  listen: "127.0.0.1:0"',
  'healthCheck:',
  '  interval: 1s',
  '  timeout: 1s',
  '  healthyThreshold: 2',
  '  unhealthyThreshold: 2',
  'passiveHealth:',
  '  ejectionTime: 5m',
  'backends:',
  ...urls.map((url, i) => `  - url: ${url}\n    weight: ${i === 0 ? 2 : 1}`),
  '',
].join('\n');

const backends = await startBackends(8, 'app-');
const sluice = new SluiceProcess(config(backends.map((b) => b.url)));
const agent = new Agent({ keepAliveTimeout: 10_000 });
let stop = false;
try {
  await sluice.start(8);
  const traffic = (async () => {
    let i = 0;
    while (!stop) {
      const path = i % 10 === 0 ? '/slow?ms=40' : i % 3 === 0 ? '/slow?ms=4' : '/';
      i++;
      await Promise.all([0, 1, 2].map(() => request(sluice.proxyUrl + path, { dispatcher: agent }).then((r) => r.body.dump(), () => {})));
    }
  })();
  const half = Date.now() + (seconds * 1000) / 2;
  await eventually(() => Date.now() > half, 'the first half of the traffic', seconds * 1000);
  // app-6 fails its probes; app-7 dies (ejected on connect, then unhealthy); app-8 leaves the
  // config while a request hangs on it (draining).
  const leaving = backends[7];
  const hangs: Promise<unknown>[] = [];
  for (let i = 0; i < 64 && leaving.hangsOpen === 0; i++) {
    const before = backends.reduce((n, b) => n + b.hangsOpen, 0);
    hangs.push(request(`${sluice.proxyUrl}/hang`, { dispatcher: agent }).catch(() => undefined));
    await eventually(() => backends.reduce((n, b) => n + b.hangsOpen, 0) > before, 'a hanging request');
  }
  sluice.rewriteConfig(config(backends.slice(0, 7).map((b) => b.url)));
  backends[5].healthStatus = 503;
  await backends[6].kill();
  await eventually(() => Date.now() > half + (seconds * 1000) / 2, 'the second half of the traffic', seconds * 1000);

  const browser = await launchChromium();
  const page = await browser.newPage({ viewport: { width: 1440, height: 900 }, colorScheme: 'light' });
  await page.goto(sluice.adminUrl + '/');
  await eventually(async () => Number(await page.getAttribute('#g-lat', 'data-points')) > 10, 'the graphs', 30_000);
  await eventually(async () => (await page.locator('#rows tr').count()) === 8, 'all rows', 30_000);
  // Two polls, so every row has a windowed rate.
  await eventually(async () => (await page.$$eval('#rows tr td:nth-child(4)', (tds) => tds.filter((td) => td.textContent !== '\u2013').length)) >= 5, 'rates', 30_000);
  await page.screenshot({ path: OUT, fullPage: true });
  await browser.close();
  process.stdout.write(`wrote ${OUT}\n`);
  stop = true;
  await traffic;
} finally {
  stop = true;
  await Promise.all(backends.map((b) => b.kill())); // first, so the hanging request ends
  await sluice.stop();
  await agent.destroy();
}
