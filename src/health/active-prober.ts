// Active health checks: GET <path> on every backend, one probe at a time per backend (the next
// is scheduled only after the previous finished), results reported to the pool.

// undici's Agent and request modules alone, not the package index (see src/pool/undici-modules.d.ts).
import Agent from 'undici/lib/dispatcher/agent.js';
import request from 'undici/lib/api/api-request.js';
import type { HealthCheckConfig } from '../config/config.ts';
import type { Backend } from '../pool/backend.ts';
import type { Pool } from '../pool/pool.ts';
import { classifyFailure, describeError } from '../pool/connection-errors.ts';

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
  // A fresh connection per probe (reset: true below), so a backend that stopped accepting
  // connections cannot hide behind an old keep-alive socket.
  private readonly agent = new Agent({ keepAliveTimeout: 1000 });
  private closed = false;

  constructor(pool: Pool, settings: () => HealthCheckConfig) {
    this.pool = pool;
    this.settings = settings;
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
    this.agent.close().catch(() => {});
  }

  private schedule(backend: Backend, delayMs: number): void {
    const timer = setTimeout(() => { void this.probe(backend); }, delayMs);
    timer.unref();
    // While the probe runs, dueAt is in the past: a settings change leaves it alone.
    this.timers.set(backend, { timer, dueAt: performance.now() + delayMs });
  }

  private async probe(backend: Backend): Promise<void> {
    const { path, timeoutMs } = this.settings();
    const started = performance.now();
    let status: number | undefined;
    let error: string | undefined;
    let local = false;
    try {
      const res = await request.call(this.agent, {
        origin: backend.url,
        path,
        method: 'GET',
        reset: true,
        headers: { 'user-agent': 'sluice-health-check' },
        signal: AbortSignal.timeout(timeoutMs),
      });
      status = res.statusCode;
      await res.body.dump();
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
