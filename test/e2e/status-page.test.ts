// The status page at `GET /` of the admin listener, in a real headless Chromium against the real
// sluice process: it loads cleanly, lists the backends, follows a backend that dies and comes
// back, draws its graphs, and takes its per-backend counters from /status/traffic, never from
// /metrics. Waits are deadlines on what the page shows, never fixed sleeps.

import { expect } from 'chai';
import type { Browser, Page } from 'playwright-core';
import { request } from 'undici';
import { launchChromium } from '../helpers/chromium.ts';
import { eventually } from '../helpers/eventually.ts';
import { harnessPerTest } from '../helpers/harness.ts';
import { testConfig } from '../helpers/sluice-process.ts';

/** Generous: the machine may be busy; none of these bounds is a performance claim. */
const SLOW = 45_000;

interface PageWatch {
  page: Page;
  /** Console errors and uncaught exceptions, as they happened. */
  errors: string[];
  /** Paths (query included) of every request the page made, the document's own included. */
  fetched: string[];
}

async function openStatusPage(browser: Browser, adminUrl: string): Promise<PageWatch> {
  const page = await browser.newPage();
  const errors: string[] = [];
  const fetched: string[] = [];
  page.on('request', (req) => { const u = new URL(req.url()); fetched.push(u.pathname + u.search); });
  page.on('console', (msg) => { if (msg.type() === 'error') errors.push(`console: ${msg.text()}`); });
  page.on('pageerror', (err) => errors.push(`page error: ${err.message}`));
  page.on('requestfailed', (req) => errors.push(`request failed: ${req.url()} ${req.failure()?.errorText ?? ''}`));
  const res = await page.goto(adminUrl + '/');
  expect(res?.status()).to.equal(200);
  expect(res?.headers()['content-type']).to.match(/^text\/html/);
  return { page, errors, fetched };
}

/** Each row's Req/s, 5xx, p50 and p99 cells, as the page shows them. */
function trafficCells(page: Page): Promise<{ rate: string; errors: string; p50: string; p99: string }[]> {
  return page.$$eval('#rows tr', (trs) => trs.map((tr) => ({
    rate: tr.children[3].textContent ?? '', errors: tr.children[6].textContent ?? '',
    p50: tr.children[7].textContent ?? '', p99: tr.children[8].textContent ?? '',
  })));
}

/** The state a backend's row shows, or undefined while there is no such row. */
async function rowState(page: Page, url: string): Promise<string | undefined> {
  return page.evaluate((u) => {
    const row = [...document.querySelectorAll<HTMLTableRowElement>('#rows tr')].find((r) => r.dataset.url === u);
    if (!row) return undefined;
    const pill = row.querySelector('.pill')?.textContent ?? '';
    // The pill and the row's colour class must agree.
    return row.className === `st-${pill}` && row.dataset.state === pill ? pill : `mismatch: ${row.className} ${pill}`;
  }, url);
}

/** Pixels drawn in the data colours (blue for all/p50) on a graph's canvas. */
function dataPixels(page: Page, id: string): Promise<number> {
  return page.evaluate((canvasId) => {
    const canvas = document.getElementById(canvasId) as HTMLCanvasElement;
    const data = canvas.getContext('2d')!.getImageData(0, 0, canvas.width, canvas.height).data;
    let n = 0;
    for (let i = 0; i < data.length; i += 4) if (data[i + 3] > 128 && data[i + 2] > 150 && data[i + 2] > data[i] + 60) n++;
    return n;
  }, id);
}

describe('status page in Chromium (e2e)', function () {
  this.timeout(120_000);
  const h = harnessPerTest();
  let browser: Browser | undefined;

  before(async () => {
    browser = await launchChromium();
  });
  after(async () => {
    await browser?.close();
  });

  it('shows every backend, identity and readiness, draws both graphs, and logs no console error', async () => {
    const sluice = await h.start(3);
    h.load('/', 2, 1_000_000, 100_000);
    const { page, errors, fetched } = await openStatusPage(browser!, sluice.adminUrl);
    try {
      for (const b of h.backends) await eventually(async () => (await rowState(page, b.url)) === 'healthy', `${b.url}'s row to show healthy`, SLOW);
      expect(await page.locator('#rows tr').count()).to.equal(3);
      await eventually(async () => (await page.textContent('#ready')) === 'READY', 'the ready badge', SLOW);
      expect((await page.textContent('#host'))?.length).to.be.greaterThan(0);
      expect(await page.textContent('#version')).to.match(/^sluice \S+ · node v\d+/);
      expect(await page.textContent('#s-backends')).to.equal('3 / 3');
      expect(await page.textContent('#config')).to.contain(sluice.configPath);

      // The graphs come from the server-side ring (one sample per 2 s): two samples make a line.
      for (const id of ['g-rate', 'g-lat']) {
        await eventually(async () => Number(await page.getAttribute(`#${id}`, 'data-points')) >= 4, `${id} to plot samples`, SLOW);
        await eventually(async () => (await dataPixels(page, id)) > 20, `${id} to draw its line`, SLOW);
      }
      // Traffic shows up per backend: a request rate, 5xx and p50/p99 from /status/traffic deltas.
      await eventually(async () => (await trafficCells(page)).every((c) => Number(c.rate) > 0 && /\d m?s$/.test(c.p50) && /\d m?s$/.test(c.p99)),
        'a request rate, p50 and p99 on every row', SLOW);
      for (const c of await trafficCells(page)) expect(c.errors).to.equal('0');
      // ... and the page got them from the compact JSON, not from the whole Prometheus text.
      expect(fetched.filter((p) => p === '/status/traffic').length).to.be.at.least(2);
      expect(fetched.filter((p) => p.startsWith('/metrics'))).to.deep.equal([]);
      expect(await page.textContent('#p-metrics')).to.equal('');
      expect(errors).to.deep.equal([]);
    } finally {
      await page.close();
    }
  });

  it('turns a row unhealthy when its backend is killed, filters by state, and turns it healthy when it is back', async () => {
    const sluice = await h.start(3);
    const victim = h.backends[1];
    const { page, errors } = await openStatusPage(browser!, sluice.adminUrl);
    try {
      await eventually(async () => (await rowState(page, victim.url)) === 'healthy', 'the row to show healthy', SLOW);
      await victim.kill();
      const down = await eventually(async () => {
        const state = await rowState(page, victim.url);
        return state !== 'healthy' ? state : undefined;
      }, 'the row to leave healthy', SLOW);
      expect(down).to.be.oneOf(['unhealthy', 'ejected']);
      await eventually(async () => (await rowState(page, victim.url)) === 'unhealthy', 'the row to show unhealthy', SLOW);
      const row = page.locator(`#rows tr[data-url="${victim.url}"]`);
      expect(await row.locator('td').nth(9).textContent()).to.match(/^✗ /); // last probe failed
      expect(await page.textContent('#s-backends')).to.equal('2 / 3');

      // The state filter leaves only that row; "all" brings the others back.
      await page.click('#chips .chip[data-state="unhealthy"]');
      expect(await page.locator('#rows tr:not([hidden])').count()).to.equal(1);
      expect(await page.getAttribute('#rows tr:not([hidden])', 'data-url')).to.equal(victim.url);
      await page.click('#chips .chip[data-state="all"]');
      expect(await page.locator('#rows tr:not([hidden])').count()).to.equal(3);

      await victim.start();
      await eventually(async () => (await rowState(page, victim.url)) === 'healthy', 'the row to show healthy again', SLOW);
      expect(await page.textContent('#s-backends')).to.equal('3 / 3');
      // The error the kill caused stays visible, with its age.
      expect(await row.locator('td').nth(10).textContent()).to.match(/ · \d+[smh] ago$/);
      expect(errors).to.deep.equal([]);
    } finally {
      await page.close();
    }
  });

  it('falls back to /status\'s counters when metrics are off: asks /status/traffic once, never /metrics, and says so', async () => {
    const sluice = await h.start(2, { config: (urls) => testConfig(urls).replace('admin:\n', 'admin:\n  metrics: false\n') });
    h.load('/', 2, 1_000_000, 100_000);
    const { page, errors, fetched } = await openStatusPage(browser!, sluice.adminUrl);
    try {
      await eventually(async () => (await page.textContent('#p-metrics'))?.includes('metrics are off') === true, 'the metrics-off note', SLOW);
      await eventually(async () => (await trafficCells(page)).every((c) => Number(c.rate) > 0), 'a request rate on every row', SLOW);
      for (const c of await trafficCells(page)) expect(c).to.deep.include({ errors: '–', p50: '–', p99: '–' });
      // Keep polling /status long enough to see that the 404 was not asked again.
      const statusPolls = (): number => fetched.filter((p) => p === '/status').length;
      const seen = statusPolls();
      await eventually(async () => statusPolls() >= seen + 2, 'two more polls', SLOW);
      expect(fetched.filter((p) => p === '/status/traffic')).to.deep.equal(['/status/traffic']);
      expect(fetched.filter((p) => p.startsWith('/metrics'))).to.deep.equal([]);
      // Chromium reports that one 404 on the console; nothing else may be there.
      expect(errors).to.deep.equal(['console: Failed to load resource: the server responded with a status of 404 (Not Found)']);
    } finally {
      await page.close();
    }
  });

  it('keeps the one-line index for curl at / and serves the page only to browsers', async () => {
    const sluice = await h.start(1);
    const plain = await request(sluice.adminUrl + '/');
    expect(plain.headers['content-type']).to.match(/^text\/plain/);
    expect(await plain.body.text()).to.match(/^sluice admin: \/status .*\/status\/traffic .*\/metrics/);
    const html = await request(sluice.adminUrl + '/', { headers: { accept: 'text/html,application/xhtml+xml' } });
    expect(html.headers['content-type']).to.match(/^text\/html/);
    expect(html.headers['content-security-policy']).to.match(/script-src 'sha256-/);
    const body = await html.body.text();
    expect(body).to.match(/^<!doctype html>/);
    expect(body).not.to.match(/<(script|link|img)[^>]+(src|href)="https?:/); // nothing from elsewhere
    const history = await request(sluice.adminUrl + '/status/history');
    const doc = (await history.body.json()) as { intervalMs: number; capacity: number; samples: unknown[] };
    expect(doc.intervalMs).to.be.greaterThan(0);
    expect(doc.capacity).to.be.greaterThan(0);
    expect(doc.samples).to.be.an('array');
  });
});
