// The /status document. It keeps the origin project's shape ({"backends":[{"url","healthy",
// "requests"}]}) and adds state, counters, probes and process-level facts around it.

import type { Backend } from '../pool/backend.ts';
import type { Pool } from '../pool/pool.ts';

export interface DiscoveryStatus {
  [key: string]: unknown;
}

/** What admin reads. It never writes. */
export interface AdminView {
  readonly pool: Pool;
  readonly startedAt: number;
  readonly shuttingDown: boolean;
  readonly balancerName: string;
  readonly configFile: string;
  readonly configLoadedAt: number;
  readonly lastReloadError: { at: number; message: string } | undefined;
  /** Keys changed in the config file that only a restart applies. */
  readonly pendingRestart: readonly string[];
  /** Sources that must sync before the process is ready (e.g. Kubernetes discovery). */
  discoveryStatus(): DiscoveryStatus | undefined;
  discoverySynced(): boolean;
}

export function isReady(view: AdminView): boolean {
  return !view.shuttingDown && view.discoverySynced() && view.pool.serving;
}

export function renderStatus(view: AdminView): object {
  const now = Date.now();
  const discovery = view.discoveryStatus();
  return {
    ready: isReady(view),
    shuttingDown: view.shuttingDown,
    startedAt: new Date(view.startedAt).toISOString(),
    uptimeSeconds: Math.round((now - view.startedAt) / 100) / 10,
    balancer: view.balancerName,
    config: {
      file: view.configFile || null,
      loadedAt: new Date(view.configLoadedAt).toISOString(),
      lastReloadError: view.lastReloadError
        ? { at: new Date(view.lastReloadError.at).toISOString(), message: view.lastReloadError.message }
        : null,
      pendingRestart: view.pendingRestart,
    },
    ...(discovery ? { discovery } : {}),
    backends: view.pool.all.map(renderBackend),
  };
}

function renderBackend(b: Backend): object {
  return {
    url: b.url,
    healthy: b.health === 'healthy' && !b.leaving && b.ejectedUntil === 0,
    requests: b.requests,
    state: b.state,
    inflight: b.inflight,
    failures: b.failures,
    weight: b.weight,
    source: b.source,
    since: new Date(b.stateSince).toISOString(),
    lastError: b.lastError ?? null,
    lastErrorAt: b.lastErrorAt > 0 ? new Date(b.lastErrorAt).toISOString() : null,
    ejectedUntil: b.ejectedUntil > 0 ? new Date(b.ejectedUntil).toISOString() : null,
    lastProbe: b.lastProbe
      ? {
          at: new Date(b.lastProbe.at).toISOString(),
          ok: b.lastProbe.ok,
          status: b.lastProbe.status ?? null,
          error: b.lastProbe.error ?? null,
          latencyMs: b.lastProbe.latencyMs,
        }
      : null,
    ...(b.meta ?? {}),
  };
}
