import { expect } from 'chai';
import type { CompletedExchange } from '../../src/observers/exchange.ts';
import { Metrics } from '../../src/observers/metrics.ts';
import type { Backend } from '../../src/pool/backend.ts';

const backend = (url: string): Backend => ({ url, state: 'healthy', inflight: 0, weight: 1, connectionsOpened: 0 } as unknown as Backend);
const exchange = (b: Backend | undefined, status: number, totalMs: number): CompletedExchange =>
  ({ backend: b, status, totalMs, upstreamMs: totalMs } as CompletedExchange);

function metricsOver(pool: Backend[]): Metrics {
  return new Metrics({
    backends: () => pool,
    retries: () => ({ connect: 0, afterSend: 0, unprocessed: 0 }),
    clientConnections: () => 0,
    tunnels: () => 0,
    reloads: () => ({ ok: 0, failed: 0 }),
    discovery: () => undefined,
    topology: () => ({ zone: null, mode: 'off' }),
    version: 'test',
  });
}

/** Every sample of one metric in Prometheus text as "labels" → value. */
function samples(text: string, name: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    const m = /^([a-z_]+)\{(.*)\} (\S+)$/.exec(line);
    if (m && m[1] === name) out.set(m[2], Number(m[3]));
  }
  return out;
}

describe('traffic snapshot (GET /status/traffic, the status page\'s share of the metrics)', () => {
  it('counts each backend\'s requests, 5xx and duration buckets, and lists a backend without traffic as zeros', () => {
    const a = backend('http://10.0.0.1:8080');
    const idle = backend('http://10.0.0.2:8080');
    const metrics = metricsOver([a, idle]);
    for (let i = 0; i < 3; i++) metrics.exchangeEnded(exchange(a, 200, 0.5)); // (0, 1] ms
    metrics.exchangeEnded(exchange(a, 503, 30)); // (25, 50] ms
    metrics.exchangeEnded(exchange(a, 404, 20_000)); // above the top bound (10 s)
    metrics.exchangeEnded(exchange(undefined, 503, 1)); // sluice answered itself: no backend's traffic

    const snapshot = metrics.traffic();
    expect(snapshot.boundsMs).to.deep.equal([1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000]);
    expect(Object.keys(snapshot.backends)).to.deep.equal([a.url, idle.url]);
    expect(snapshot.backends[a.url]).to.deep.equal({ requests: 5, errors: 1, buckets: [3, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1] });
    expect(snapshot.backends[idle.url]).to.deep.equal({ requests: 0, errors: 0, buckets: new Array(14).fill(0) });
    // It is what the endpoint sends: JSON keeps every number as it is.
    expect(JSON.parse(JSON.stringify(snapshot))).to.deep.equal(snapshot);
  });

  it('agrees with /metrics: summed buckets are the le buckets, requests and 5xx are sluice_requests_total', () => {
    const pool = [backend('http://10.0.0.1:8080'), backend('http://10.0.0.2:8080'), backend('http://10.0.0.3:8080')];
    const metrics = metricsOver(pool);
    const statuses = [200, 201, 302, 404, 499, 500, 502, 503];
    for (let i = 0; i < 200; i++) metrics.exchangeEnded(exchange(pool[i % 2], statuses[i % statuses.length], (i * 37) % 12_000));

    const snapshot = metrics.traffic();
    const text = metrics.render();
    const requests = samples(text, 'sluice_requests_total');
    const buckets = samples(text, 'sluice_request_duration_seconds_bucket');
    for (const b of pool) {
      const t = snapshot.backends[b.url];
      const byClass = ['1xx', '2xx', '3xx', '4xx', '5xx'].map((code) => requests.get(`backend="${b.url}",code="${code}"`)!);
      expect(t.requests, b.url).to.equal(byClass.reduce((x, y) => x + y, 0));
      expect(t.errors, b.url).to.equal(byClass[4]);
      let cumulative = 0;
      const les = [...snapshot.boundsMs.map((ms) => String(ms / 1000)), '+Inf'];
      expect(t.buckets.map((n, i) => [les[i], (cumulative += n)]), b.url)
        .to.deep.equal(les.map((le) => [le, buckets.get(`backend="${b.url}",le="${le}"`)]));
    }
    expect(snapshot.backends[pool[0].url].requests + snapshot.backends[pool[1].url].requests).to.equal(200);
    expect(snapshot.backends[pool[2].url].requests).to.equal(0);
  });

  it('drops a backend that left the pool, and hands out copies that cannot change the counters', () => {
    const a = backend('http://10.0.0.1:8080');
    const b = backend('http://10.0.0.2:8080');
    const pool = [a, b];
    const metrics = metricsOver(pool);
    metrics.exchangeEnded(exchange(a, 200, 3));
    const first = metrics.traffic();
    first.backends[a.url].requests = 99;
    first.backends[a.url].buckets[2] = 99;
    first.boundsMs[0] = 99;
    pool.pop();
    const second = metrics.traffic();
    expect(Object.keys(second.backends)).to.deep.equal([a.url]);
    expect(second.backends[a.url]).to.deep.equal({ requests: 1, errors: 0, buckets: [0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0] });
    expect(second.boundsMs[0]).to.equal(1);
  });
});
