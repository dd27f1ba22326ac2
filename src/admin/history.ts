// The last minutes of traffic for the status page's graphs: a bounded in-memory ring of
// samples, one every few seconds. It sees exchanges through the observer seam (one counter and
// one bucket per exchange) so it works also when /metrics is off, and it never grows.

import type { CompletedExchange, ExchangeObserver } from '../observers/exchange.ts';
import type { Backend } from '../pool/backend.ts';

/** Milliseconds; log-spaced so p50/p99 stay within ~25% from 0.5 ms to 30 s. */
const BOUNDS_MS = [0.5, 1, 1.5, 2, 3, 4, 5, 7, 10, 15, 20, 30, 40, 50, 70, 100, 150, 200, 300, 400, 500, 700,
  1000, 1500, 2000, 3000, 5000, 7000, 10000, 15000, 20000, 30000];

export interface HistorySample {
  /** Epoch ms at the end of the interval. */
  t: number;
  /** Exchanges that ended in the interval, and those that answered 5xx. */
  requests: number;
  errors: number;
  /** Latency of those exchanges (ms), null without any. */
  p50: number | null;
  p99: number | null;
  /** At the sample time. */
  inflight: number;
  healthy: number;
  backends: number;
}

export interface HistoryOptions {
  intervalMs: number;
  /** Samples kept; the oldest is dropped first. */
  capacity: number;
}

export const HISTORY_DEFAULTS: HistoryOptions = { intervalMs: 2_000, capacity: 300 };

export class TrafficHistory implements ExchangeObserver {
  readonly options: HistoryOptions;
  private readonly backends: () => readonly Backend[];
  private readonly ring: (HistorySample | undefined)[];
  private next = 0;
  private size = 0;
  private requests = 0;
  private errors = 0;
  private readonly counts = new Uint32Array(BOUNDS_MS.length + 1);
  private timer: NodeJS.Timeout | undefined;

  constructor(backends: () => readonly Backend[], options: Partial<HistoryOptions> = {}) {
    this.options = { ...HISTORY_DEFAULTS, ...options };
    this.backends = backends;
    this.ring = new Array<HistorySample | undefined>(this.options.capacity);
  }

  start(): this {
    this.timer ??= setInterval(() => this.sample(), this.options.intervalMs).unref();
    return this;
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  exchangeEnded(x: CompletedExchange): void {
    this.requests++;
    if (x.status >= 500 && x.status < 600) this.errors++;
    const ms = x.totalMs;
    let i = 0;
    while (i < BOUNDS_MS.length && ms > BOUNDS_MS[i]) i++;
    this.counts[i]++;
  }

  /** Closes the current interval into one sample (the timer calls it; tests may too). */
  sample(now = Date.now()): HistorySample {
    let inflight = 0;
    let healthy = 0;
    const all = this.backends();
    for (const b of all) {
      inflight += b.inflight;
      if (b.state === 'healthy') healthy++;
    }
    const s: HistorySample = {
      t: now,
      requests: this.requests,
      errors: this.errors,
      p50: quantile(this.counts, this.requests, 0.5),
      p99: quantile(this.counts, this.requests, 0.99),
      inflight,
      healthy,
      backends: all.length,
    };
    this.requests = 0;
    this.errors = 0;
    this.counts.fill(0);
    this.ring[this.next] = s;
    this.next = (this.next + 1) % this.ring.length;
    this.size = Math.min(this.size + 1, this.ring.length);
    return s;
  }

  /** Oldest first. */
  samples(): HistorySample[] {
    const out: HistorySample[] = [];
    const start = (this.next - this.size + this.ring.length) % this.ring.length;
    for (let i = 0; i < this.size; i++) out.push(this.ring[(start + i) % this.ring.length]!);
    return out;
  }

  /** `GET /status/history`. */
  render(): object {
    return { intervalMs: this.options.intervalMs, capacity: this.options.capacity, samples: this.samples() };
  }
}

/** Prometheus-style histogram_quantile: linear inside the bucket; the last bucket reports its lower bound. */
function quantile(counts: Uint32Array, total: number, q: number): number | null {
  if (total === 0) return null;
  const rank = q * total;
  let cumulative = 0;
  for (let i = 0; i < counts.length; i++) {
    const before = cumulative;
    cumulative += counts[i];
    if (cumulative >= rank && counts[i] > 0) {
      if (i === BOUNDS_MS.length) return BOUNDS_MS[i - 1];
      const lower = i === 0 ? 0 : BOUNDS_MS[i - 1];
      const value = lower + (BOUNDS_MS[i] - lower) * ((rank - before) / counts[i]);
      return Math.round(value * 100) / 100;
    }
  }
  return BOUNDS_MS[BOUNDS_MS.length - 1];
}
