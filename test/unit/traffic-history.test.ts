import { expect } from 'chai';
import { TrafficHistory } from '../../src/admin/history.ts';
import type { CompletedExchange } from '../../src/observers/exchange.ts';
import type { Backend } from '../../src/pool/backend.ts';

const exchange = (status: number, totalMs: number): CompletedExchange => ({ status, totalMs } as CompletedExchange);
const backends = [{ state: 'healthy', inflight: 2 }, { state: 'unhealthy', inflight: 1 }] as unknown as Backend[];

describe('traffic history (the status page graphs)', () => {
  it('closes each interval into one sample: requests, 5xx, p50/p99, in-flight and healthy count', () => {
    const history = new TrafficHistory(() => backends, { intervalMs: 2000, capacity: 10 });
    for (let i = 0; i < 98; i++) history.exchangeEnded(exchange(200, 3));
    history.exchangeEnded(exchange(502, 800));
    history.exchangeEnded(exchange(503, 800));
    const s = history.sample(1_000);
    expect(s).to.include({ t: 1_000, requests: 100, errors: 2, inflight: 3, healthy: 1, backends: 2 });
    expect(s.p50).to.be.within(2, 3); // the (2, 3] ms bucket
    expect(s.p99).to.be.within(700, 1000);
    const empty = history.sample(3_000);
    expect(empty).to.include({ requests: 0, errors: 0, p50: null, p99: null });
  });

  it('keeps at most its capacity, oldest first', () => {
    const history = new TrafficHistory(() => [], { intervalMs: 1000, capacity: 3 });
    for (let t = 1; t <= 5; t++) history.sample(t);
    expect(history.samples().map((s) => s.t)).to.deep.equal([3, 4, 5]);
    expect(history.render()).to.deep.include({ intervalMs: 1000, capacity: 3 });
  });
});
