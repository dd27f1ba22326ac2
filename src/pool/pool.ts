// Live backend state. Sources hand complete desired sets to reconcile(); health reports probe
// results and passive failures here; the balancer reads `candidates`; admin reads snapshot().

import type { Logger } from 'pino';
import { Backend, type BackendState, type ConnectionSettings, type DesiredBackend, type ProbeResult } from './backend.ts';

export interface HealthThresholds {
  healthyThreshold: number;
  unhealthyThreshold: number;
}

export interface PoolEvents {
  /** A backend joined the pool and should be probed at once. */
  added?: (backend: Backend) => void;
  /** A backend left the pool for good (drained and closed). */
  removed?: (backend: Backend) => void;
}

export class Pool {
  /** Every backend, including those draining out. Insertion order is the round-robin order. */
  private readonly byUrl = new Map<string, Backend>();
  private readonly desiredBySource = new Map<string, DesiredBackend[]>();
  private readonly log: Logger;
  private connection: ConnectionSettings;
  thresholds: HealthThresholds;
  events: PoolEvents = {};
  /** Healthy, not terminating, not leaving: what the balancer picks from. */
  private ready: Backend[] = [];
  /** Healthy but terminating: used only while nothing is ready (as kube-proxy does). */
  private fallback: Backend[] = [];

  constructor(log: Logger, connection: ConnectionSettings, thresholds: HealthThresholds) {
    this.log = log;
    this.connection = connection;
    this.thresholds = thresholds;
  }

  /** The backends a request may go to right now. Recomputed on state changes, not per request. */
  get candidates(): readonly Backend[] {
    return this.ready.length > 0 ? this.ready : this.fallback;
  }

  get all(): readonly Backend[] {
    return [...this.byUrl.values()];
  }

  get(url: string): Backend | undefined {
    return this.byUrl.get(url);
  }

  /** True when at least one backend can take traffic. */
  get serving(): boolean {
    return this.ready.length > 0 || this.fallback.length > 0;
  }

  /**
   * Replaces one source's desired set. Survivors keep their state and counters, newcomers start
   * `unknown` (no traffic until a probe passes), leavers drain their in-flight requests.
   */
  reconcile(source: string, desired: readonly DesiredBackend[]): void {
    this.desiredBySource.set(source, [...desired]);
    const merged = new Map<string, { desired: DesiredBackend; source: string }>();
    for (const [name, set] of this.desiredBySource) {
      for (const d of set) {
        const seen = merged.get(d.url);
        // The same endpoint from two sources: the first source wins, but it is serving if either says so.
        if (seen) seen.desired = { ...seen.desired, terminating: (seen.desired.terminating ?? false) && (d.terminating ?? false) };
        else merged.set(d.url, { desired: d, source: name });
      }
    }
    for (const [url, { desired: d, source: name }] of merged) {
      const existing = this.byUrl.get(url);
      if (existing) {
        if (existing.leaving) {
          existing.leaving = false;
          this.log.info({ backend: url, source: name }, 'backend returned');
        }
        existing.weight = d.weight;
        existing.source = name;
        existing.meta = d.meta;
        if (existing.terminating !== (d.terminating ?? false)) {
          existing.terminating = d.terminating ?? false;
          this.logState(existing, existing.terminating ? 'endpoint terminating' : 'endpoint ready again');
        }
        continue;
      }
      const backend = new Backend(d, name, this.connection);
      this.byUrl.set(url, backend);
      this.log.info({ backend: url, source: name, weight: d.weight }, 'backend added');
      this.events.added?.(backend);
    }
    for (const backend of this.byUrl.values()) {
      if (merged.has(backend.url) || backend.leaving) continue;
      backend.leaving = true;
      backend.stateSince = Date.now();
      this.log.info({ backend: backend.url, inflight: backend.inflight }, 'backend draining');
      if (backend.inflight === 0) this.finishDraining(backend);
      else backend.onIdle = (b) => { if (b.leaving) this.finishDraining(b); };
    }
    this.recompute();
  }

  /** Connection settings changed: survivors open new connections with them. */
  setConnectionSettings(connection: ConnectionSettings): void {
    if (connection.connectMs === this.connection.connectMs) return;
    this.connection = connection;
    for (const backend of this.byUrl.values()) backend.reconnect(connection);
  }

  recordProbe(backend: Backend, result: ProbeResult): void {
    backend.lastProbe = result;
    if (result.ok) {
      backend.consecutivePasses++;
      backend.consecutiveFailures = 0;
      const needed = backend.health === 'unknown' ? 1 : this.thresholds.healthyThreshold;
      if (backend.health !== 'healthy' && backend.consecutivePasses >= needed) this.setHealth(backend, 'healthy', 'probe passed');
    } else {
      backend.consecutiveFailures++;
      backend.consecutivePasses = 0;
      backend.lastError = result.error ?? `status ${result.status}`;
      if (backend.health !== 'unhealthy' && backend.consecutiveFailures >= this.thresholds.unhealthyThreshold) {
        this.setHealth(backend, 'unhealthy', `probe failed: ${backend.lastError}`);
      }
    }
  }

  /** Real traffic showed the backend cannot be reached: take it out now; probes bring it back. */
  reportConnectionFailure(backend: Backend, reason: string): void {
    backend.failures++;
    backend.lastError = reason;
    backend.consecutivePasses = 0;
    if (backend.health !== 'unhealthy') this.setHealth(backend, 'unhealthy', `traffic failed: ${reason}`);
  }

  /** The backend answered badly (e.g. timed out) but is reachable: counted, not ejected. */
  reportRequestFailure(backend: Backend, reason: string): void {
    backend.failures++;
    backend.lastError = reason;
  }

  close(): void {
    for (const backend of this.byUrl.values()) backend.close();
    this.byUrl.clear();
    this.recompute();
  }

  private setHealth(backend: Backend, health: Backend['health'], reason: string): void {
    backend.health = health;
    backend.stateSince = Date.now();
    this.logState(backend, reason);
    this.recompute();
  }

  private logState(backend: Backend, reason: string): void {
    const state: BackendState = backend.state;
    const level = state === 'unhealthy' ? 'warn' : 'info';
    this.log[level]({ backend: backend.url, state, reason }, 'backend state changed');
  }

  private finishDraining(backend: Backend): void {
    backend.onIdle = undefined;
    this.byUrl.delete(backend.url);
    backend.close();
    this.log.info({ backend: backend.url, requests: backend.requests }, 'backend removed');
    this.events.removed?.(backend);
    this.recompute();
  }

  private recompute(): void {
    const ready: Backend[] = [];
    const fallback: Backend[] = [];
    for (const backend of this.byUrl.values()) {
      if (backend.leaving || backend.health !== 'healthy') continue;
      (backend.terminating ? fallback : ready).push(backend);
    }
    this.ready = ready;
    this.fallback = fallback;
  }
}
