import { expect } from 'chai';
import { request } from 'undici';
import { eventually } from '../helpers/eventually.ts';
import { call, grpcClient, GrpcBackend, H2GrpcBackend, METHODS } from '../helpers/grpc-backend.ts';
import { harnessPerTest } from '../helpers/harness.ts';
import { SluiceProcess, testConfig, testPreamble } from '../helpers/sluice-process.ts';

/** Every sample of one metric as "labels" → value. */
function samples(text: string, name: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    const m = /^([a-z_]+)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (m && m[1] === name) out.set(m[2] ?? '', Number(m[3]));
  }
  return out;
}

describe('metrics (e2e)', () => {
  const h = harnessPerTest();

  async function scrape(): Promise<string> {
    const res = await request(h.sluice.adminUrl + '/metrics');
    expect(res.statusCode).to.equal(200);
    expect(res.headers['content-type']).to.match(/^text\/plain; version=0\.0\.4/);
    return res.body.text();
  }

  it('counts what clients saw: requests by backend and status class, and the duration histogram', async () => {
    await h.start(2);
    const [b1, b2] = h.backends;
    const statuses: number[] = [];
    for (let i = 0; i < 10; i++) {
      const res = await request(`${h.sluice.proxyUrl}/respond?status=${i < 7 ? 200 : 503}`);
      statuses.push(res.statusCode);
      await res.body.text();
    }
    const text = await scrape();
    const requests = samples(text, 'sluice_requests_total');
    const twoXX = (requests.get(`backend="${b1.url}",code="2xx"`) ?? 0) + (requests.get(`backend="${b2.url}",code="2xx"`) ?? 0);
    const fiveXX = (requests.get(`backend="${b1.url}",code="5xx"`) ?? 0) + (requests.get(`backend="${b2.url}",code="5xx"`) ?? 0);
    expect(twoXX).to.equal(statuses.filter((s) => s === 200).length);
    expect(fiveXX).to.equal(statuses.filter((s) => s === 503).length);
    const counts = samples(text, 'sluice_request_duration_seconds_count');
    expect((counts.get(`backend="${b1.url}"`) ?? 0) + (counts.get(`backend="${b2.url}"`) ?? 0)).to.equal(10);
    const inf = samples(text, 'sluice_request_duration_seconds_bucket').get(`backend="${b1.url}",le="+Inf"`);
    expect(inf).to.equal(counts.get(`backend="${b1.url}"`));
    expect(samples(text, 'sluice_backend_state').get(`backend="${b1.url}",state="healthy"`)).to.equal(1);
    expect(samples(text, 'sluice_build_info').size).to.equal(1);
    expect(samples(text, 'process_resident_memory_bytes').get('')).to.be.greaterThan(0);

    // The status page's compact copy of the same counters.
    const res = await request(h.sluice.adminUrl + '/status/traffic');
    expect(res.statusCode).to.equal(200);
    expect(res.headers['content-type']).to.equal('application/json');
    const traffic = (await res.body.json()) as { boundsMs: number[]; backends: Record<string, { requests: number; errors: number; buckets: number[] }> };
    expect(Object.keys(traffic.backends).sort()).to.deep.equal([b1.url, b2.url].sort());
    for (const b of [b1, b2]) {
      const t = traffic.backends[b.url];
      expect(t.requests).to.equal(counts.get(`backend="${b.url}"`));
      expect(t.errors).to.equal(requests.get(`backend="${b.url}",code="5xx"`) ?? 0);
      expect(t.buckets).to.have.length(traffic.boundsMs.length + 1);
      expect(t.buckets.reduce((x, y) => x + y, 0)).to.equal(t.requests);
    }
  });

  it('answers 404 at /metrics and /status/traffic when metrics are off', async () => {
    await h.start(1, { config: (urls) => testConfig(urls).replace('admin:\n', 'admin:\n  metrics: false\n') });
    await (await request(h.sluice.proxyUrl + '/')).body.text();
    for (const path of ['/metrics', '/status/traffic']) {
      const res = await request(h.sluice.adminUrl + path);
      expect(res.statusCode, path).to.equal(404);
      expect(await res.body.text(), path).to.equal('Not Found: metrics are off (admin.metrics: false)\n');
    }
  });

  it('counts answers sluice gave itself under backend=""', async () => {
    await h.start(1, { config: (urls) => testConfig(urls).replace('interval: 300ms', 'interval: 1m').replace('timeout: 300ms', 'timeout: 2s') });
    await h.backends[0].kill();
    const first = await request(h.sluice.proxyUrl + '/');
    await first.body.text();
    const second = await request(h.sluice.proxyUrl + '/');
    await second.body.text();
    expect(second.statusCode).to.equal(503);
    const requests = samples(await scrape(), 'sluice_requests_total');
    expect(requests.get('backend="",code="5xx"')).to.equal(1);
    expect(samples(await scrape(), 'sluice_passive_ejections_total').get(`backend="${h.backends[0].url}"`)).to.equal(1);
  });

  it('drops the series of a backend that left the pool', async () => {
    await h.start(2);
    const [b1, b2] = h.backends;
    for (let i = 0; i < 4; i++) await (await request(h.sluice.proxyUrl + '/')).body.text();
    expect(await scrape()).to.include(`backend="${b2.url}"`);
    h.sluice.rewriteConfig(testConfig([b1.url]));
    await eventually(async () => (await h.sluice.status()).backends.length === 1, 'the second backend to leave');
    const text = await scrape();
    expect(text).to.not.include(`backend="${b2.url}"`);
    expect(text).to.include(`backend="${b1.url}"`);
    expect(samples(text, 'sluice_config_reloads_total').get('result="applied"')).to.equal(1);
  });

  it('counts retries of calls a backend did not process (REFUSED_STREAM) under reason="unprocessed", not "connect"', async () => {
    const refusing = await new H2GrpcBackend('r').start();
    const other = await new GrpcBackend('g').start();
    const sluice = new SluiceProcess([
      ...testPreamble(), '  type: grpc', 'upstream:', '  protocol: h2c',
      'backends:', `  - url: ${refusing.url}`, `  - url: ${other.url}`, '',
    ].join('\n'));
    const client = grpcClient((await sluice.start(2)).proxy);
    try {
      refusing.mode = 'refuse';
      for (let i = 0; i < 8; i++) expect((await call(client, METHODS.unary, `m${i}`)).value).to.equal(`g:m${i}`);
      expect(refusing.refused, 'calls the refusing backend was sent').to.be.at.least(3);
      const res = await request(sluice.adminUrl + '/metrics');
      const retries = samples(await res.body.text(), 'sluice_retries_total');
      expect(Object.fromEntries(retries)).to.deep.equal({ 'reason="connect"': 0, 'reason="after_send"': 0, 'reason="unprocessed"': refusing.refused });
    } finally {
      client.close();
      await sluice.stop();
      await Promise.all([refusing.kill(), other.kill()]);
    }
  });

  it('returns the request id to the client and serves /status?format=text', async () => {
    await h.start(1);
    const res = await request(h.sluice.proxyUrl + '/');
    await res.body.text();
    expect(res.headers['x-request-id']).to.match(/^[0-9a-f-]{36}$/);
    const mine = await request(h.sluice.proxyUrl + '/', { headers: { 'x-request-id': 'abc' } });
    await mine.body.text();
    expect(mine.headers['x-request-id']).to.equal('abc');
    const text = await (await request(h.sluice.adminUrl + '/status?format=text')).body.text();
    expect(text).to.match(/: ready, 1 backend\(s\)/);
    expect(text).to.include(h.backends[0].url);
    expect(text).to.match(/BACKEND\s+STATE\s+SINCE/);
  });
});
