// Active health checks: GET <path> (or gRPC's Health/Check) on every backend, one probe at a time
// per backend (the next is scheduled only after the previous finished), results reported to the pool.

// undici's Agent and request modules alone, not the package index (see src/pool/undici-modules.d.ts).
import Agent from 'undici/lib/dispatcher/agent.js';
import request from 'undici/lib/api/api-request.js';
import type { HealthCheckConfig, UpstreamProtocol } from '../config/config.ts';
import type { Backend, UpstreamTls } from '../pool/backend.ts';
import type { Pool } from '../pool/pool.ts';
import { classifyFailure, describeError } from '../pool/connection-errors.ts';
import { probeHttp1 } from './http1-probe.ts';

/**
 * Probes in flight at once, at most. A large pool (1,000 discovered endpoints) is probed in one
 * burst at start and every interval after: without a cap that opened 1,000 sockets at once, and
 * the memory V8 and malloc took for it stayed. Probes over the cap wait their turn; the time a
 * probe waits is not part of its latency or its timeout.
 */
const MAX_CONCURRENT_PROBES = 32;

interface Scheduled {
  timer: NodeJS.Timeout;
  /** performance.now() when it fires. */
  dueAt: number;
}

export class ActiveProber {
  private readonly pool: Pool;
  /** Read from the current runtime snapshot at every probe. */
  private readonly settings: () => HealthCheckConfig;
  private readonly timers = new Map<Backend, Scheduled>();
  /** The TLS towards backends (upstream.tls) that traffic uses, so probes verify the same way. */
  private readonly tls: () => { tls?: UpstreamTls; key?: string };
  private agents: Record<UpstreamProtocol, Agent>;
  private agentsKey: string | undefined;
  private closed = false;
  private running = 0;
  private readonly waiting: Backend[] = [];

  constructor(pool: Pool, settings: () => HealthCheckConfig, tls: () => { tls?: UpstreamTls; key?: string } = () => ({})) {
    this.pool = pool;
    this.settings = settings;
    this.tls = tls;
    this.agents = makeAgents(undefined);
    this.agentsKey = undefined;
  }

  /** The agents for the current upstream TLS settings; made anew when those change. */
  private currentAgents(): Record<UpstreamProtocol, Agent> {
    const { tls, key } = this.tls();
    if (key !== this.agentsKey) {
      for (const agent of Object.values(this.agents)) agent.close().catch(() => {});
      this.agents = makeAgents(tls);
      this.agentsKey = key;
    }
    return this.agents;
  }

  /** The snapshot changed: a shorter interval takes effect now, not after the old one runs out. */
  settingsChanged(): void {
    const { intervalMs } = this.settings();
    const now = performance.now();
    for (const [backend, scheduled] of this.timers) {
      if (scheduled.dueAt - now <= intervalMs) continue;
      clearTimeout(scheduled.timer);
      this.schedule(backend, intervalMs);
    }
  }

  /** Probes the backend now, then on the interval until stop(). */
  start(backend: Backend): void {
    if (this.closed || this.timers.has(backend)) return;
    this.schedule(backend, 0);
  }

  stop(backend: Backend): void {
    const scheduled = this.timers.get(backend);
    if (scheduled) clearTimeout(scheduled.timer);
    this.timers.delete(backend);
  }

  close(): void {
    this.closed = true;
    for (const scheduled of this.timers.values()) clearTimeout(scheduled.timer);
    this.timers.clear();
    this.waiting.length = 0;
    for (const agent of Object.values(this.agents)) agent.close().catch(() => {});
  }

  private schedule(backend: Backend, delayMs: number): void {
    const timer = setTimeout(() => this.due(backend), delayMs);
    timer.unref();
    // While the probe runs, dueAt is in the past: a settings change leaves it alone.
    this.timers.set(backend, { timer, dueAt: performance.now() + delayMs });
  }

  private due(backend: Backend): void {
    if (this.running < MAX_CONCURRENT_PROBES) void this.probe(backend);
    else this.waiting.push(backend);
  }

  private async probe(backend: Backend): Promise<void> {
    this.running++;
    try {
      await this.probeOnce(backend);
    } finally {
      this.running--;
      while (this.running < MAX_CONCURRENT_PROBES && this.waiting.length > 0) {
        const next = this.waiting.shift()!;
        // Removed while it waited: its turn is gone with it.
        if (!this.closed && this.timers.has(next)) void this.probe(next);
      }
    }
  }

  private async probeOnce(backend: Backend): Promise<void> {
    const { type, path, grpcService, timeoutMs } = this.settings();
    const started = performance.now();
    let status: number | undefined;
    let error: string | undefined;
    let local = false;
    // gRPC is HTTP/2 only: an http1 backend asked over gRPC is asked in h2c.
    const protocol = type === 'grpc' && backend.protocol === 'http1' ? 'h2c' : backend.protocol;
    try {
      if (type === 'grpc') {
        const res = await request.call(this.currentAgents()[protocol], {
          origin: backend.url,
          path: '/grpc.health.v1.Health/Check',
          method: 'POST',
          headers: { 'user-agent': 'sluice-health-check', 'content-type': 'application/grpc', te: 'trailers' },
          body: grpcFrame(healthCheckRequest(grpcService)),
          signal: AbortSignal.timeout(timeoutMs),
        });
        status = res.statusCode;
        const body = Buffer.from(await res.body.arrayBuffer());
        error = grpcHealthProblem(res.statusCode, res.headers, res.trailers, body);
      } else if (protocol === 'http1') {
        status = await probeHttp1({ url: backend.url, path, timeoutMs, tls: this.tls().tls });
      } else {
        const res = await request.call(this.currentAgents()[protocol], {
          origin: backend.url,
          path,
          method: 'GET',
          reset: true,
          headers: { 'user-agent': 'sluice-health-check' },
          signal: AbortSignal.timeout(timeoutMs),
        });
        status = res.statusCode;
        await res.body.dump();
      }
    } catch (err) {
      error = describeError(err, timeoutMs);
      local = classifyFailure(err) === 'local';
    }
    // Stopped (backend removed) while the probe was in flight: drop the result.
    if (this.closed || !this.timers.has(backend)) return;
    const ok = error === undefined && status !== undefined && status >= 200 && status < 300;
    this.pool.recordProbe(backend, {
      at: Date.now(),
      ok,
      status,
      error: error ?? (ok ? undefined : `status ${status}`),
      latencyMs: Math.round((performance.now() - started) * 10) / 10,
      ...(local ? { local } : {}),
    });
    this.schedule(backend, this.settings().intervalMs);
  }
}

/**
 * One agent per protocol, for HTTP/2 and gRPC probes (HTTP/1.1 checks use http1-probe.ts). A
 * fresh connection per probe (reset: true in the request), so a backend that stopped accepting
 * connections cannot hide behind an old keep-alive socket.
 */
function makeAgents(tls: UpstreamTls | undefined): Record<UpstreamProtocol, Agent> {
  const connect = tls === undefined ? {} : { connect: tls };
  return {
    http1: new Agent({ keepAliveTimeout: 1000, allowH2: false, ...connect }),
    // undici 8.13 honours the top-level useH2c (missing from its typings); h2Options.useH2c does not reach the connection.
    h2c: new Agent({ keepAliveTimeout: 1000, allowH2: true, useH2c: true, ...connect } as unknown as Agent.Options),
    h2: new Agent({ keepAliveTimeout: 1000, allowH2: true, ...connect }),
  };
}

/** A gRPC message frame: not compressed, 4-byte big-endian length, the message. */
function grpcFrame(message: Buffer): Buffer {
  const frame = Buffer.alloc(5 + message.length);
  frame.writeUInt32BE(message.length, 1);
  message.copy(frame, 5);
  return frame;
}

/** grpc.health.v1.HealthCheckRequest { string service = 1; } in protobuf wire format. */
function healthCheckRequest(service: string): Buffer {
  if (service === '') return Buffer.alloc(0);
  const name = Buffer.from(service, 'utf8');
  const length: number[] = [];
  for (let n = name.length; ; n >>>= 7) {
    if (n < 0x80) { length.push(n); break; }
    length.push((n & 0x7f) | 0x80);
  }
  return Buffer.concat([Buffer.from([0x0a, ...length]), name]);
}

type Headers = Record<string, string | string[] | undefined>;

/** undefined when the answer is SERVING; otherwise why not, in a few words. */
function grpcHealthProblem(status: number, headers: Headers, trailers: Headers, body: Buffer): string | undefined {
  if (status !== 200) return `status ${status}`;
  // A trailers-only answer carries grpc-status in the headers.
  const grpcStatus = trailers['grpc-status'] ?? headers['grpc-status'];
  if (grpcStatus !== '0') {
    const message = trailers['grpc-message'] ?? headers['grpc-message'];
    return `grpc-status ${grpcStatus ?? 'missing'}${message ? ` (${decodeURIComponent(String(message))})` : ''}`;
  }
  // HealthCheckResponse { ServingStatus status = 1; }: SERVING is 1; an absent field is 0 (UNKNOWN).
  const message = body.subarray(5);
  const serving = message.length >= 2 && message[0] === 0x08 ? message[1] : 0;
  return serving === 1 ? undefined : `not serving (status ${serving})`;
}
