// The runtime snapshot: everything a running sluice reads per request or per event, built whole
// from one valid Config and swapped in one place on reload. Components hold the RuntimeRef and
// read `.current` when they need a setting; nobody copies settings into their own fields.

import { readFileSync } from 'node:fs';
import { createBalancer, type Balancer } from './balancer/balancer.ts';
import { cidrMatcher } from './config/cidr.ts';
import type { Config, UpstreamTlsConfig } from './config/config.ts';
import type { UpstreamTls } from './pool/backend.ts';
import type { PoolSettings } from './pool/pool.ts';

export interface Runtime {
  readonly config: Config;
  readonly balancer: Balancer;
  readonly pool: PoolSettings;
  /** Requests one backend may hold (connections + queue); a backend at it is skipped. */
  readonly backendCapacity: number;
  /** Client connections the proxy listener accepts at once (limits.maxConnections, resolved). */
  readonly maxConnections: number;
  readonly isTrustedProxy: (address: string | undefined) => boolean;
}

export class RuntimeRef {
  current: Runtime;
  constructor(initial: Runtime) {
    this.current = initial;
  }
}

/** Keys read only at start: a reload that changes them is reported, not silently ignored. */
export const RESTART_KEYS = ['listen', 'tls', 'admin.listen', 'admin.metrics', 'discovery'] as const;

export function restartNeeded(running: Config, wanted: Config): string[] {
  const changed: string[] = [];
  if (running.listen.text !== wanted.listen.text) changed.push('listen');
  // The certificate files' contents reload on their own; which files, and mTLS on or off, do not.
  if (JSON.stringify(running.tls) !== JSON.stringify(wanted.tls)) changed.push('tls');
  if (running.admin.listen.text !== wanted.admin.listen.text) changed.push('admin.listen');
  if (running.admin.metrics !== wanted.admin.metrics) changed.push('admin.metrics');
  if (JSON.stringify(running.discovery) !== JSON.stringify(wanted.discovery)) changed.push('discovery');
  return changed;
}

export function buildRuntime(config: Config, previous?: Runtime): Runtime {
  const isTrustedProxy = cidrMatcher(config.trustedProxies);
  return {
    config,
    // The same policy with the same options keeps its position, rings and weights across reloads.
    balancer: previous !== undefined && sameBalancing(previous.config, config) ? previous.balancer : createBalancer(config, { isTrustedProxy }),
    pool: {
      thresholds: config.healthCheck,
      passiveHealth: config.passiveHealth,
      topology: config.topology,
      connection: {
        connectMs: config.timeouts.connectMs,
        maxConnections: config.limits.backendMaxConnections,
        protocol: config.upstream.protocol,
        tls: upstreamTls(config.upstream.tls),
        key: JSON.stringify(config.upstream.tls),
      },
    },
    backendCapacity: config.limits.backendMaxConnections + config.limits.backendMaxPending,
    maxConnections: config.limits.maxConnections ?? defaultMaxConnections(),
    isTrustedProxy,
  };
}

function sameBalancing(a: Config, b: Config): boolean {
  const keys = (c: Config): string => JSON.stringify([c.balancer, c.balancerOptions, c.stickySession, c.slowStartMs, c.trustedProxies]);
  return keys(a) === keys(b);
}

/** upstream.tls as undici's connect options, files read now; undefined when nothing is set. */
function upstreamTls(tls: UpstreamTlsConfig): UpstreamTls | undefined {
  if (tls.ca === '' && tls.serverName === '' && tls.cert === '' && !tls.insecureSkipVerify) return undefined;
  return {
    ...(tls.ca !== '' ? { ca: readFileSync(tls.ca) } : {}),
    ...(tls.serverName !== '' ? { servername: tls.serverName } : {}),
    ...(tls.cert !== '' ? { cert: readFileSync(tls.cert), key: readFileSync(tls.key) } : {}),
    rejectUnauthorized: !tls.insecureSkipVerify,
  };
}

/** Descriptors kept back for the admin listener, probes, discovery, logs and the config watcher. */
const RESERVED_DESCRIPTORS = 64;

/**
 * Each client connection can hold one upstream connection too, so half of what the descriptor
 * limit leaves after the reserve; at most 16384 when the limit is very high or unknown.
 */
export function defaultMaxConnections(): number {
  const limit = openFileLimit();
  if (limit === undefined) return 16384;
  return Math.max(1, Math.min(16384, Math.floor((limit - RESERVED_DESCRIPTORS) / 2)));
}

/** RLIMIT_NOFILE from /proc (undefined when unlimited or not on Linux); also read by the metrics. */
export function openFileLimit(): number | undefined {
  try {
    const line = /^Max open files\s+(\d+|unlimited)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
    return line === null || line[1] === 'unlimited' ? undefined : Number(line[1]);
  } catch {
    return undefined; // not Linux: no /proc
  }
}
