// Live backend state. Sources hand complete desired sets to reconcile(); health reports probe
// results and passive failures here; the balancer reads `candidates`; admin reads snapshot().

import type { Logger } from 'pino';
import type { PassiveHealthConfig, TopologyConfig } from '../config/config.ts';
import { Backend, type BackendState, type ConnectionSettings, type DesiredBackend, type EjectionCause, type ProbeResult } from './backend.ts';

export interface HealthThresholds {
  healthyThreshold: number;
  unhealthyThreshold: number;
}

/** What the pool reads from the current runtime snapshot, every time it needs it. */
export interface PoolSettings {
  readonly thresholds: HealthThresholds;
  readonly passiveHealth: PassiveHealthConfig;
  readonly topology: TopologyConfig;
  readonly connection: ConnectionSettings;
}

export type ZoneMode = 'off' | 'hints' | 'same zone' | 'all zones (none ready for this zone)';

export interface PoolEvents {
  /** A backend joined the pool and should be probed at once. */
  added?: (backend: Backend) => void;
  /** A backend left the pool for good (drained and closed). */
  removed?: (backend: Backend) => void;
  /** A probe result was recorded (for metrics). */
  probed?: (backend: Backend, result: ProbeResult) => void;
  /** Passive health took the backend out. */
  ejected?: (backend: Backend) => void;
}

export class Pool {
  /** Every backend, including those draining out. Insertion order is the round-robin order. */
  private readonly byUrl = new Map<string, Backend>();
  private readonly desiredBySource = new Map<string, DesiredBackend[]>();
  private readonly log: Logger;
  private readonly settings: () => PoolSettings;
  /** The connection settings the backends' connection pools were made with. */
  private connection: ConnectionSettings;
  private readonly ejectionTimers = new Map<Backend, NodeJS.Timeout>();
  events: PoolEvents = {};
  /** Healthy, not ejected, not terminating, not leaving: what the balancer picks from. */
  private ready: Backend[] = [];
  /** Healthy but terminating: used only while nothing is ready (as kube-proxy does). */
  private fallback: Backend[] = [];
  /** Which backends zone preference let through at the last recompute. */
  private zoneMode: ZoneMode = 'off';

  constructor(log: Logger, settings: () => PoolSettings) {
    this.log = log;
    this.settings = settings;
    this.connection = settings().connection;
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

  /** Requests in flight over all backends, draining ones included. */
  get inflight(): number {
    let sum = 0;
    for (const backend of this.byUrl.values()) sum += backend.inflight;
    return sum;
  }

  /**
   * Replaces one source's desired set. Survivors keep their state and counters (and switch to a
   * protocol their source now names), newcomers start `unknown` (no traffic until a probe passes),
   * leavers drain their in-flight requests.
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
        const was = existing.protocol;
        // E.g. appProtocol added to a Service port: new requests speak it, health state stays.
        if (existing.changeOwnProtocol(d.protocol)) this.log.info({ backend: url, source: name, from: was, protocol: existing.protocol }, 'backend protocol changed');
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

  /** The runtime snapshot changed: backends open new connections if the connection settings did. */
  settingsChanged(): void {
    this.recompute();
    const next = this.settings().connection;
    if (next.connectMs === this.connection.connectMs && next.maxConnections === this.connection.maxConnections
      && next.protocol === this.connection.protocol && next.key === this.connection.key) return;
    this.connection = next;
    for (const backend of this.byUrl.values()) backend.reconnect(next);
  }

  recordProbe(backend: Backend, result: ProbeResult): void {
    backend.lastProbe = result;
    this.events.probed?.(backend, result);
    // sluice's own trouble (EMFILE...) says nothing about the backend.
    if (result.local) return;
    const thresholds = this.settings().thresholds;
    if (result.ok) {
      backend.consecutivePasses++;
      backend.consecutiveFailures = 0;
      // A backend that could not be connected to is back as soon as a probe gets through.
      if (backend.ejectionCause === 'connect') this.endEjection(backend, 'probe passed');
      const needed = backend.health === 'unknown' ? 1 : thresholds.healthyThreshold;
      if (backend.health !== 'healthy' && backend.consecutivePasses >= needed) this.setHealth(backend, 'healthy', 'probe passed');
    } else {
      backend.consecutiveFailures++;
      backend.consecutivePasses = 0;
      this.noteError(backend, result.error ?? `status ${result.status}`);
      if (backend.health !== 'unhealthy' && backend.consecutiveFailures >= thresholds.unhealthyThreshold) {
        this.setHealth(backend, 'unhealthy', `probe failed: ${backend.lastError}`);
      }
    }
  }

  /** Real traffic could not connect to the backend: eject it now (within the cap); a passing probe or the ejection time brings it back. */
  reportConnectionFailure(backend: Backend, reason: string): void {
    backend.failures++;
    backend.consecutivePasses = 0;
    this.noteError(backend, reason);
    this.eject(backend, 'connect', `traffic failed: ${reason}`);
  }

  /**
   * A request failed after it was sent (reset, premature close, malformed response, timeout): the
   * request's failure first. Only consecutiveFailures of them in a row eject the backend.
   */
  reportRequestFailure(backend: Backend, reason: string): void {
    backend.failures++;
    backend.consecutiveRequestFailures++;
    this.noteError(backend, reason);
    if (backend.consecutiveRequestFailures >= this.settings().passiveHealth.consecutiveFailures) {
      this.eject(backend, 'requests', `${backend.consecutiveRequestFailures} requests failed in a row: ${reason}`);
    }
  }

  /** A response came back whole: the run of failures is over. */
  reportSuccess(backend: Backend): void {
    backend.consecutiveRequestFailures = 0;
  }

  close(): void {
    for (const timer of this.ejectionTimers.values()) clearTimeout(timer);
    this.ejectionTimers.clear();
    for (const backend of this.byUrl.values()) backend.close();
    this.byUrl.clear();
    this.recompute();
  }

  private noteError(backend: Backend, reason: string): void {
    backend.lastError = reason;
    backend.lastErrorAt = Date.now();
  }

  private eject(backend: Backend, cause: EjectionCause, reason: string): void {
    if (backend.ejectedUntil > 0 || backend.leaving) return;
    const passive = this.settings().passiveHealth;
    let members = 0;
    let ejected = 0;
    for (const b of this.byUrl.values()) {
      if (b.leaving) continue;
      members++;
      if (b.ejectedUntil > 0) ejected++;
    }
    // Envoy's rule: the cap never stops the first ejection, so one bad backend of two can still go.
    const cap = Math.max(1, Math.floor((members * passive.maxEjectionPercent) / 100));
    if (passive.maxEjectionPercent === 0 || ejected >= cap) {
      this.log.warn({ backend: backend.url, reason, ejected, maxEjectionPercent: passive.maxEjectionPercent }, 'backend not ejected: ejection cap reached');
      return;
    }
    const now = Date.now();
    // A backend that stayed in for a long while starts over at one ejection time.
    if (backend.lastEjectionEnded > 0 && now - backend.lastEjectionEnded > passive.maxEjectionTimeMs) backend.ejections = 0;
    backend.ejections++;
    const duration = Math.min(passive.ejectionTimeMs * backend.ejections, passive.maxEjectionTimeMs);
    backend.ejectedUntil = now + duration;
    backend.ejectionCause = cause;
    backend.stateSince = now;
    const timer = setTimeout(() => this.endEjection(backend, 'ejection time over'), duration);
    timer.unref();
    this.ejectionTimers.set(backend, timer);
    this.log.warn({ backend: backend.url, state: 'ejected', reason, ejectionMs: duration }, 'backend state changed');
    this.events.ejected?.(backend);
    this.recompute();
  }

  private endEjection(backend: Backend, reason: string): void {
    if (backend.ejectedUntil === 0) return;
    clearTimeout(this.ejectionTimers.get(backend));
    this.ejectionTimers.delete(backend);
    backend.ejectedUntil = 0;
    backend.ejectionCause = undefined;
    backend.consecutiveRequestFailures = 0;
    backend.lastEjectionEnded = Date.now();
    backend.stateSince = Date.now();
    this.logState(backend, reason);
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
    clearTimeout(this.ejectionTimers.get(backend));
    this.ejectionTimers.delete(backend);
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
      if (backend.leaving || backend.health !== 'healthy' || backend.ejectedUntil > 0) continue;
      (backend.terminating ? fallback : ready).push(backend);
    }
    this.ready = this.preferZone(ready);
    this.fallback = fallback;
  }

  /**
   * topology.preferSameZone: the ready backends meant for this zone, while there is one. Meant
   * for it: its EndpointSlice hints name the zone when every ready backend carries hints (as
   * kube-proxy, all or nothing), else it is in the zone.
   */
  private preferZone(ready: Backend[]): Backend[] {
    const { zone, preferSameZone } = this.settings().topology;
    if (zone === '' || !preferSameZone) {
      this.zoneMode = 'off';
      return ready;
    }
    const hinted = ready.length > 0 && ready.every((b) => b.meta?.forZones !== undefined);
    const local = ready.filter((b) => (hinted ? b.meta?.forZones?.includes(zone) : b.meta?.zone === zone));
    if (local.length === 0) {
      this.zoneMode = 'all zones (none ready for this zone)';
      return ready;
    }
    this.zoneMode = hinted ? 'hints' : 'same zone';
    return local.length === ready.length ? ready : local;
  }

  /** For /status: this replica's zone and what the preference does right now. */
  topologyStatus(): { zone: string | null; preferSameZone: boolean; mode: ZoneMode } {
    const { zone, preferSameZone } = this.settings().topology;
    return { zone: zone === '' ? null : zone, preferSameZone, mode: this.zoneMode };
  }
}
