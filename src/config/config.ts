// The one typed configuration object. Every default lives in DEFAULTS below and nowhere else.

export type BalancerName = 'round-robin' | 'weighted-round-robin';
export const BALANCERS: readonly BalancerName[] = ['round-robin', 'weighted-round-robin'];

export interface ListenAddress {
  /** undefined: all interfaces. */
  host: string | undefined;
  port: number;
  /** As written by the user, for messages. */
  text: string;
}

export interface HealthCheckConfig {
  path: string;
  intervalMs: number;
  timeoutMs: number;
  healthyThreshold: number;
  unhealthyThreshold: number;
}

export interface BackendConfig {
  /** Normalised origin, e.g. "http://127.0.0.1:8081". */
  url: string;
  weight: number;
}

export type KubernetesApi = 'endpointslices' | 'endpoints';
/** auto: IPv4 when the Service has IPv4 endpoints, else IPv6. */
export type IpFamily = 'auto' | 'IPv4' | 'IPv6';
export const IP_FAMILIES: readonly IpFamily[] = ['auto', 'IPv4', 'IPv6'];

export interface KubernetesDiscoveryConfig {
  service: string;
  /** undefined: the pod's own namespace in-cluster, else "default". */
  namespace: string | undefined;
  /** A Service port's name, or the target (pod) port's number; undefined when the Service has one port. */
  port: string | number | undefined;
  api: KubernetesApi;
  ipFamily: IpFamily;
  /** A watch silent this long (no event, no bookmark, no end) is stalled: relist. */
  watchdogMs: number;
}

export interface Config {
  /** Absolute path of the file this came from, or "" for built-in configs (the demo). */
  file: string;
  listen: ListenAddress;
  admin: { listen: ListenAddress };
  balancer: BalancerName;
  healthCheck: HealthCheckConfig;
  timeouts: { connectMs: number; responseMs: number; clientIdleMs: number };
  retries: number;
  shutdown: { drainTimeoutMs: number; delayMs: number };
  accessLog: boolean;
  backends: BackendConfig[];
  discovery: { kubernetes: KubernetesDiscoveryConfig | undefined };
}

export const DEFAULTS = {
  listen: ':8080',
  adminListen: ':9901',
  balancer: 'round-robin' as BalancerName,
  healthCheck: {
    path: '/health',
    intervalMs: 10_000,
    timeoutMs: 2_000,
    healthyThreshold: 2,
    unhealthyThreshold: 3,
  },
  timeouts: { connectMs: 5_000, responseMs: 60_000, clientIdleMs: 60_000 },
  retries: 2,
  shutdown: { drainTimeoutMs: 30_000, delayMs: 0 },
  accessLog: false,
  weight: 1,
  kubernetes: { api: 'endpointslices' as KubernetesApi, ipFamily: 'auto' as IpFamily, watchdogMs: 30_000 },
} as const;
