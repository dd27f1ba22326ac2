// Prometheus metrics, hand-written exposition (text format 0.0.4). prom-client would cost a
// label-map lookup and an object per observation on the hot path and ~3 MB of heap; here each
// backend's series are a few typed arrays found through one WeakMap lookup per exchange, and all
// gauges are read from their owners at scrape time. Series of a removed backend disappear with it,
// because only backends in the pool are rendered.

import { readdirSync } from 'node:fs';
import { memoryUsage } from 'node:process';
import type { Backend, BackendState, ProbeResult } from '../pool/backend.ts';
import { openFileLimit } from '../runtime.ts';
import type { CompletedExchange, ExchangeObserver } from './exchange.ts';

/** Seconds; from 1 ms (a loopback hop) to 10 s (past that, timeouts decide). */
const BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
const STATES: readonly BackendState[] = ['healthy', 'unhealthy', 'unknown', 'ejected', 'draining'];
const CLASSES = ['1xx', '2xx', '3xx', '4xx', '5xx'];

class Histogram {
  readonly counts = new Float64Array(BUCKETS.length + 1);
  sum = 0;
  count = 0;

  observe(seconds: number): void {
    let i = 0;
    while (i < BUCKETS.length && seconds > BUCKETS[i]) i++;
    this.counts[i]++;
    this.sum += seconds;
    this.count++;
  }
}

class BackendSeries {
  /** Requests by status class: index 1..5 for 1xx..5xx. */
  readonly requests = new Float64Array(6);
  readonly duration = new Histogram();
  readonly upstream = new Histogram();
  readonly probe = new Histogram();
  probesOk = 0;
  probesFailed = 0;
  ejections = 0;
}

/**
 * `GET /status/traffic`: what the status page needs from the metrics, per backend, without the
 * ~5 KB of Prometheus text per backend it would otherwise download and parse every 2 s.
 * Cumulative since the backend joined the pool; the page computes rates and p50/p99 from deltas.
 */
export interface TrafficSnapshot {
  /** Upper bounds of the request-duration buckets, in ms (Prometheus `le`, times 1000). */
  boundsMs: number[];
  /** Every backend in the pool, by URL. */
  backends: Record<string, BackendTraffic>;
}

export interface BackendTraffic {
  /** Requests answered, every status class. */
  requests: number;
  /** Of those, answered 5xx. */
  errors: number;
  /**
   * Requests per duration bucket, not cumulative (one more than boundsMs: the last is above the
   * top bound); per-bucket counts are what the registry holds, and mostly zeros, so short.
   */
  buckets: number[];
}

const BOUNDS_MS = BUCKETS.map((s) => s * 1000);

/** What the metrics read from the rest of sluice at scrape time. */
export interface MetricsSources {
  backends(): readonly Backend[];
  retries(): { connect: number; afterSend: number; unprocessed: number };
  clientConnections(): number;
  tunnels(): number;
  reloads(): { ok: number; failed: number };
  discovery(): Record<string, unknown> | undefined;
  topology(): { zone: string | null; mode: string };
  version: string;
}

export class Metrics implements ExchangeObserver {
  private readonly series = new WeakMap<Backend, BackendSeries>();
  /** Exchanges that never got a backend (no healthy backend, every backend full). */
  private readonly unrouted = new Float64Array(6);
  private readonly sources: MetricsSources;
  private readonly startedAt = Date.now() / 1000;

  constructor(sources: MetricsSources) {
    this.sources = sources;
  }

  private of(backend: Backend): BackendSeries {
    let s = this.series.get(backend);
    if (s === undefined) {
      s = new BackendSeries();
      this.series.set(backend, s);
    }
    return s;
  }

  exchangeEnded(x: CompletedExchange): void {
    const cls = Math.min(5, Math.max(1, Math.floor(x.status / 100)));
    if (x.backend === undefined) {
      this.unrouted[cls]++;
      return;
    }
    const s = this.of(x.backend);
    s.requests[cls]++;
    s.duration.observe(x.totalMs / 1000);
    if (x.upstreamMs !== undefined) s.upstream.observe(x.upstreamMs / 1000);
  }

  probed(backend: Backend, result: ProbeResult): void {
    const s = this.of(backend);
    if (result.ok) s.probesOk++;
    else s.probesFailed++;
    s.probe.observe(result.latencyMs / 1000);
  }

  ejected(backend: Backend): void {
    this.of(backend).ejections++;
  }

  render(): string {
    const out: string[] = [];
    const backends = this.sources.backends();
    const label = (b: Backend): string => `backend="${b.url}"`;
    const each = (name: string, type: string, help: string, lines: (emit: (labels: string, value: number) => void) => void): void => {
      out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
      lines((labels, value) => out.push(`${name}${labels ? `{${labels}}` : ''} ${formatValue(value)}`));
    };

    each('sluice_requests_total', 'counter', 'Requests answered, by backend and status class (backend="" when none could be picked; client aborts count as 4xx).', (emit) => {
      for (const b of backends) {
        const s = this.series.get(b);
        for (let c = 1; c <= 5; c++) emit(`${label(b)},code="${CLASSES[c - 1]}"`, s?.requests[c] ?? 0);
      }
      for (let c = 1; c <= 5; c++) if (this.unrouted[c] > 0) emit(`backend="",code="${CLASSES[c - 1]}"`, this.unrouted[c]);
    });
    this.histogram(out, 'sluice_request_duration_seconds', 'From the request head to the end of the response, by backend.', backends, (s) => s.duration);
    this.histogram(out, 'sluice_upstream_response_seconds', 'From the request head to the backend\'s response head, by backend.', backends, (s) => s.upstream);
    each('sluice_backend_inflight', 'gauge', 'Requests and tunnels in progress, by backend.', (emit) => {
      for (const b of backends) emit(label(b), b.inflight);
    });
    each('sluice_backend_state', 'gauge', 'Backend state: 1 for the state it is in, 0 for the others.', (emit) => {
      for (const b of backends) for (const state of STATES) emit(`${label(b)},state="${state}"`, b.state === state ? 1 : 0);
    });
    each('sluice_backend_weight', 'gauge', 'Configured weight, by backend.', (emit) => {
      for (const b of backends) emit(label(b), b.weight);
    });
    each('sluice_probes_total', 'counter', 'Active health probes, by backend and result.', (emit) => {
      for (const b of backends) {
        const s = this.series.get(b);
        emit(`${label(b)},result="ok"`, s?.probesOk ?? 0);
        emit(`${label(b)},result="failed"`, s?.probesFailed ?? 0);
      }
    });
    this.histogram(out, 'sluice_probe_duration_seconds', 'Active health probe latency, by backend.', backends, (s) => s.probe);
    each('sluice_passive_ejections_total', 'counter', 'Ejections by passive health (outlier detection), by backend.', (emit) => {
      for (const b of backends) emit(label(b), this.series.get(b)?.ejections ?? 0);
    });
    each('sluice_upstream_connections_opened_total', 'counter', 'Connections opened to a backend.', (emit) => {
      for (const b of backends) emit(label(b), b.connectionsOpened);
    });
    const retries = this.sources.retries();
    each('sluice_retries_total', 'counter', 'Retries on another backend: after a failed connect, after a sent request failed, or of a call the backend did not process (HTTP/2 GOAWAY, REFUSED_STREAM).', (emit) => {
      emit('reason="connect"', retries.connect);
      emit('reason="after_send"', retries.afterSend);
      emit('reason="unprocessed"', retries.unprocessed);
    });
    each('sluice_client_connections', 'gauge', 'Open client connections on the proxy listener.', (emit) => emit('', this.sources.clientConnections()));
    each('sluice_tunnels', 'gauge', 'Open WebSocket tunnels.', (emit) => emit('', this.sources.tunnels()));
    const reloads = this.sources.reloads();
    each('sluice_config_reloads_total', 'counter', 'Config reloads, by result.', (emit) => {
      emit('result="applied"', reloads.ok);
      emit('result="rejected"', reloads.failed);
    });
    this.discovery(out, each);
    const topology = this.sources.topology();
    each('sluice_zone_preference', 'gauge', 'Always 1; mode says what topology.preferSameZone does now (off, hints, same zone, all zones).', (emit) => emit(`zone="${topology.zone ?? ''}",mode="${topology.mode}"`, 1));
    each('sluice_build_info', 'gauge', 'Always 1; labels say what is running.', (emit) => emit(`version="${this.sources.version}",node="${process.version}"`, 1));
    this.process(out, each);
    return out.join('\n') + '\n';
  }

  /** The status page's share of the metrics: plain copies, so a reader cannot change the counters. */
  traffic(): TrafficSnapshot {
    const backends: Record<string, BackendTraffic> = {};
    for (const b of this.sources.backends()) {
      const s = this.series.get(b);
      let requests = 0;
      for (let c = 1; c <= 5; c++) requests += s?.requests[c] ?? 0;
      backends[b.url] = {
        requests,
        errors: s?.requests[5] ?? 0,
        buckets: s === undefined ? new Array<number>(BUCKETS.length + 1).fill(0) : Array.from(s.duration.counts),
      };
    }
    return { boundsMs: BOUNDS_MS.slice(), backends };
  }

  private histogram(out: string[], name: string, help: string, backends: readonly Backend[], pick: (s: BackendSeries) => Histogram): void {
    out.push(`# HELP ${name} ${help}`, `# TYPE ${name} histogram`);
    for (const b of backends) {
      const s = this.series.get(b);
      const h = s === undefined ? undefined : pick(s);
      let cumulative = 0;
      for (let i = 0; i <= BUCKETS.length; i++) {
        cumulative += h?.counts[i] ?? 0;
        out.push(`${name}_bucket{backend="${b.url}",le="${i < BUCKETS.length ? BUCKETS[i] : '+Inf'}"} ${cumulative}`);
      }
      out.push(`${name}_sum{backend="${b.url}"} ${formatValue(h?.sum ?? 0)}`, `${name}_count{backend="${b.url}"} ${h?.count ?? 0}`);
    }
  }

  private discovery(out: string[], each: (name: string, type: string, help: string, lines: (emit: (labels: string, value: number) => void) => void) => void): void {
    const d = this.sources.discovery();
    if (d === undefined) return;
    const num = (v: unknown): number => (typeof v === 'number' ? v : 0);
    each('sluice_discovery_synced', 'gauge', '1 once discovery has handed over its first complete list.', (emit) => emit('', d.synced === true ? 1 : 0));
    each('sluice_discovery_watch_restarts_total', 'counter', 'Watches renewed.', (emit) => emit('', num(d.watchRestarts)));
    each('sluice_discovery_relists_total', 'counter', 'Full relists (410 Gone, silence).', (emit) => emit('', num(d.relists)));
    const last = typeof d.lastEventAt === 'string' ? Date.parse(d.lastEventAt) : NaN;
    if (!Number.isNaN(last)) each('sluice_discovery_last_event_age_seconds', 'gauge', 'Seconds since the watch last delivered anything.', (emit) => emit('', (Date.now() - last) / 1000));
    each('sluice_discovery_endpoints', 'gauge', 'Endpoints seen by discovery, by condition.', (emit) => {
      emit('condition="serving"', num(d.endpoints));
      emit('condition="terminating"', num(d.terminating));
    });
    each('sluice_discovery_problem', 'gauge', '1 while discovery reports a problem.', (emit) => emit('', d.problem ? 1 : 0));
  }

  private process(out: string[], each: (name: string, type: string, help: string, lines: (emit: (labels: string, value: number) => void) => void) => void): void {
    const cpu = process.cpuUsage();
    const mem = memoryUsage();
    each('process_cpu_user_seconds_total', 'counter', 'User CPU time spent in seconds.', (emit) => emit('', cpu.user / 1e6));
    each('process_cpu_system_seconds_total', 'counter', 'System CPU time spent in seconds.', (emit) => emit('', cpu.system / 1e6));
    each('process_cpu_seconds_total', 'counter', 'Total user and system CPU time spent in seconds.', (emit) => emit('', (cpu.user + cpu.system) / 1e6));
    each('process_start_time_seconds', 'gauge', 'Start time of the process since unix epoch in seconds.', (emit) => emit('', Math.round(this.startedAt)));
    each('process_resident_memory_bytes', 'gauge', 'Resident memory size in bytes.', (emit) => emit('', mem.rss));
    const fds = openFds();
    if (fds !== undefined) each('process_open_fds', 'gauge', 'Number of open file descriptors.', (emit) => emit('', fds));
    const maxFds = openFileLimit();
    if (maxFds !== undefined) each('process_max_fds', 'gauge', 'Maximum number of open file descriptors.', (emit) => emit('', maxFds));
    each('nodejs_heap_size_total_bytes', 'gauge', 'Process heap size from Node.js in bytes.', (emit) => emit('', mem.heapTotal));
    each('nodejs_heap_size_used_bytes', 'gauge', 'Process heap size used from Node.js in bytes.', (emit) => emit('', mem.heapUsed));
    each('nodejs_external_memory_bytes', 'gauge', 'Node.js external memory size in bytes.', (emit) => emit('', mem.external));
  }
}

function formatValue(value: number): string {
  return Number.isInteger(value) ? String(value) : String(Math.round(value * 1e6) / 1e6);
}

function openFds(): number | undefined {
  try {
    return readdirSync('/proc/self/fd').length;
  } catch {
    return undefined;
  }
}

