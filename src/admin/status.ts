// The /status document. It keeps the origin project's shape ({"backends":[{"url","healthy",
// "requests"}]}) and adds state, counters, probes and process-level facts around it.

import { hostname } from 'node:os';
import type { TrafficSnapshot } from '../observers/metrics.ts';
import type { Backend } from '../pool/backend.ts';
import { version } from '../version.ts';
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
  /** Prometheus text, or undefined when metrics are off. */
  renderMetrics(): string | undefined;
  /** The status page's per-backend counters and latency buckets, or undefined when metrics are off. */
  renderTraffic(): TrafficSnapshot | undefined;
  /** The status page's graphs: `{intervalMs, capacity, samples}`. */
  renderHistory(): object;
}

export function isReady(view: AdminView): boolean {
  return !view.shuttingDown && view.discoverySynced() && view.pool.serving;
}

/** Why /readyz says no, in a few words; null when ready. */
export function notReadyReason(view: AdminView): string | null {
  // Discovery's own sentence says why there may be no backends (e.g. the Service is missing).
  const problem = view.discoveryStatus()?.problem;
  const because = typeof problem === 'string' ? ` (${problem})` : '';
  if (view.shuttingDown) return 'shutting down';
  if (!view.discoverySynced()) return `discovery not synced${because}`;
  if (!view.pool.serving) return `no healthy backend${because}`;
  return null;
}

const IDENTITY = {
  host: process.env.POD_NAME ?? hostname(),
  namespace: process.env.POD_NAMESPACE ?? null,
  version: version(),
  node: process.version,
};

function summary(view: AdminView): object {
  const byState: Record<string, number> = { healthy: 0, unhealthy: 0, unknown: 0, ejected: 0, draining: 0 };
  let inflight = 0;
  for (const b of view.pool.all) {
    byState[b.state]++;
    inflight += b.inflight;
  }
  return { backends: view.pool.all.length, byState, inflight, notReadyReason: notReadyReason(view) };
}

export function renderStatus(view: AdminView): object {
  const now = Date.now();
  const discovery = view.discoveryStatus();
  return {
    ready: isReady(view),
    identity: IDENTITY,
    summary: summary(view),
    shuttingDown: view.shuttingDown,
    startedAt: new Date(view.startedAt).toISOString(),
    uptimeSeconds: Math.round((now - view.startedAt) / 100) / 10,
    balancer: view.balancerName,
    topology: view.pool.topologyStatus(),
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

/** `GET /status?format=text`: one aligned line per backend, for people with curl. */
export function renderStatusText(view: AdminView): string {
  const now = Date.now();
  const age = (t: number): string => {
    const s = Math.round((now - t) / 1000);
    return s < 120 ? `${s}s` : s < 7200 ? `${Math.round(s / 60)}m` : `${Math.round(s / 3600)}h`;
  };
  const reason = notReadyReason(view);
  const head = `sluice ${IDENTITY.version} on ${IDENTITY.host}: ${reason === null ? 'ready' : `not ready (${reason})`}, `
    + `${view.pool.all.length} backend(s), balancer ${view.balancerName}, up ${age(view.startedAt)}\n`;
  const rows = [['BACKEND', 'STATE', 'SINCE', 'INFLIGHT', 'REQUESTS', 'FAILURES', 'LAST ERROR']];
  for (const b of view.pool.all) {
    rows.push([b.url, b.state, age(b.stateSince), String(b.inflight), String(b.requests), String(b.failures),
      b.lastError === undefined ? '-' : `${b.lastError} (${age(b.lastErrorAt)} ago)`]);
  }
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  return head + rows.map((r) => r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i]))).join('  ')).join('\n') + '\n';
}
