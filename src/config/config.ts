// The one typed configuration object. Every default lives in DEFAULTS below and nowhere else.

export type BalancerName = 'round-robin' | 'weighted-round-robin' | 'least-request' | 'random' | 'consistent-hash';
export const BALANCERS: readonly BalancerName[] = ['round-robin', 'weighted-round-robin', 'least-request', 'random', 'consistent-hash'];

/** Which part of the request consistent-hash uses as the key. */
export type HashOn =
  | { readonly source: 'header' | 'cookie' | 'query'; readonly name: string; readonly text: string }
  | { readonly source: 'path' | 'client-ip'; readonly text: string };

/** The object form's options besides `policy` (`balancer: {policy, hashOn, loadFactor}`). */
export interface BalancerOptions {
  /** consistent-hash only (and required there). */
  hashOn: HashOn | undefined;
  /** consistent-hash bounded load: no backend above loadFactor × the mean in-flight; 0 = unbounded. */
  loadFactor: number;
}

export interface StickySessionConfig {
  cookie: string;
  /** Cookie Max-Age; 0: a session cookie (until the browser closes). */
  ttlMs: number;
}

export interface ListenAddress {
  /** undefined: all interfaces. */
  host: string | undefined;
  port: number;
  /** As written by the user, for messages. */
  text: string;
}

export type HealthCheckType = 'http' | 'grpc';
export const HEALTH_CHECK_TYPES: readonly HealthCheckType[] = ['http', 'grpc'];

export interface HealthCheckConfig {
  /** http: GET path, 2xx passes. grpc: grpc.health.v1.Health/Check for grpcService, SERVING passes. */
  type: HealthCheckType;
  path: string;
  /** The service name asked about in a gRPC health check; "" is the server as a whole. */
  grpcService: string;
  intervalMs: number;
  timeoutMs: number;
  healthyThreshold: number;
  unhealthyThreshold: number;
}

/** How sluice talks to a backend: HTTP/1.1, HTTP/2 with prior knowledge (cleartext), HTTP/2 over TLS (ALPN). */
export type UpstreamProtocol = 'http1' | 'h2c' | 'h2';
export const UPSTREAM_PROTOCOLS: readonly UpstreamProtocol[] = ['http1', 'h2c', 'h2'];

export interface BackendConfig {
  /** Normalised origin, e.g. "http://127.0.0.1:8081". */
  url: string;
  weight: number;
  /** undefined: upstream.protocol. */
  protocol?: UpstreamProtocol;
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

export interface TimeoutsConfig {
  connectMs: number;
  /** Upstream: the backend's response head, from the request being sent. */
  responseMs: number;
  /** Keep-alive: a client connection with no request in progress. */
  clientIdleMs: number;
  /** The whole request head, from the connection's first byte (or the end of the previous response). */
  clientHeaderMs: number;
  /** No byte moved either way while a request or response body is in flight. */
  idleMs: number;
  /** No byte moved either way through an upgraded (WebSocket) tunnel. */
  tunnelIdleMs: number;
  /** After one side of a tunnel ended, how long the other side may still send. */
  halfCloseMs: number;
}

export interface PassiveHealthConfig {
  /** Failures after the request was sent, in a row, before the backend is ejected. */
  consecutiveFailures: number;
  /** First ejection; each repeated ejection lasts one more multiple, up to maxEjectionTimeMs. */
  ejectionTimeMs: number;
  maxEjectionTimeMs: number;
  /** At most this share of the pool may be ejected for passive reasons at once. */
  maxEjectionPercent: number;
}

export interface RetryBudgetConfig {
  /** Retries per request after the request reached a backend (idempotent, bodiless requests only). */
  afterSend: number;
  /** Retries in progress at once, as a percentage of requests in progress... */
  percent: number;
  /** ...but always at least this many. */
  minConcurrent: number;
}

export interface LimitsConfig {
  /** Client connections on the proxy listener; undefined: derived from the descriptor limit. */
  maxConnections: number | undefined;
  backendMaxConnections: number;
  backendMaxPending: number;
  /** HTTP/2 streams a client may have open at once on one connection (SETTINGS_MAX_CONCURRENT_STREAMS). */
  maxConcurrentStreams: number;
}

export type TlsVersion = 'TLSv1.2' | 'TLSv1.3';
export const TLS_VERSIONS: readonly TlsVersion[] = ['TLSv1.2', 'TLSv1.3'];

/** TLS on the proxy listener. Paths are absolute (resolved against the config file's directory). */
export interface TlsConfig {
  cert: string;
  key: string;
  minVersion: TlsVersion;
  /** A CA bundle: set, clients must present a certificate it signed (mTLS); "" for none. */
  clientCA: string;
}

/** For https:// backends. Files are paths ("" = not set); they are read when the config is applied. */
export interface UpstreamTlsConfig {
  /** CA bundle to verify backends with, instead of the system's. */
  ca: string;
  /** SNI and the name to verify, instead of the backend's host. */
  serverName: string;
  /** A client certificate and key, for backends that want mTLS. */
  cert: string;
  key: string;
  /** Do not verify the backend's certificate at all (logged as a warning). */
  insecureSkipVerify: boolean;
}

export interface TopologyConfig {
  /** This replica's zone ("" = unknown: no zone preference); default from $SLUICE_ZONE. */
  zone: string;
  /** Prefer endpoints for this zone (EndpointSlice hints, else same zone) while one is healthy. */
  preferSameZone: boolean;
}

export interface Config {
  /** Absolute path of the file this came from, or "" for built-in configs (the demo). */
  file: string;
  listen: ListenAddress;
  /** undefined: cleartext (HTTP/1.1 and HTTP/2 with prior knowledge). */
  tls: TlsConfig | undefined;
  /** `metrics`: serve /metrics and count what it needs (off saves a little per request). */
  admin: { listen: ListenAddress; metrics: boolean };
  balancer: BalancerName;
  balancerOptions: BalancerOptions;
  /** undefined: no sticky sessions. */
  stickySession: StickySessionConfig | undefined;
  /** A new or recovered backend's weight ramps up over this window; 0 = off. */
  slowStartMs: number;
  topology: TopologyConfig;
  healthCheck: HealthCheckConfig;
  timeouts: TimeoutsConfig;
  retries: number;
  retryBudget: RetryBudgetConfig;
  passiveHealth: PassiveHealthConfig;
  limits: LimitsConfig;
  /** CIDRs whose X-Forwarded-Proto/-Host and Forwarded headers are kept. */
  trustedProxies: string[];
  /** Defaults for every backend (a backend's own `protocol` wins; discovered ones use this). */
  upstream: { protocol: UpstreamProtocol; tls: UpstreamTlsConfig };
  shutdown: { drainTimeoutMs: number; delayMs: number };
  accessLog: boolean;
  backends: BackendConfig[];
  discovery: { kubernetes: KubernetesDiscoveryConfig | undefined };
}

export const DEFAULTS = {
  listen: ':8080',
  adminListen: ':9901',
  adminMetrics: true,
  balancer: 'round-robin' as BalancerName,
  loadFactor: 1.25,
  stickySession: { cookie: 'sluice_affinity', ttlMs: 3_600_000 },
  slowStartMs: 0,
  preferSameZone: true,
  healthCheck: {
    type: 'http' as HealthCheckType,
    path: '/health',
    grpcService: '',
    intervalMs: 10_000,
    timeoutMs: 2_000,
    healthyThreshold: 2,
    unhealthyThreshold: 3,
  },
  timeouts: {
    connectMs: 5_000, responseMs: 60_000, clientIdleMs: 60_000,
    clientHeaderMs: 10_000, idleMs: 60_000, tunnelIdleMs: 3_600_000, halfCloseMs: 5_000,
  },
  retries: 2,
  // 50%: a crashed backend's in-flight requests (1/N of all, N ≥ 2) are all retried; only a storm
  // where most requests fail at once is held back. Envoy's 20% / 3 turned a crash of one of three
  // backends under 16 clients into 502s for the requests beyond the third.
  retryBudget: { afterSend: 1, percent: 50, minConcurrent: 10 },
  passiveHealth: { consecutiveFailures: 5, ejectionTimeMs: 30_000, maxEjectionTimeMs: 300_000, maxEjectionPercent: 50 },
  limits: { maxConnections: undefined as number | undefined, backendMaxConnections: 1024, backendMaxPending: 1024, maxConcurrentStreams: 100 },
  tls: { minVersion: 'TLSv1.2' as TlsVersion, clientCA: '' },
  trustedProxies: [] as string[],
  upstream: { protocol: 'http1' as UpstreamProtocol, tls: { ca: '', serverName: '', cert: '', key: '', insecureSkipVerify: false } as UpstreamTlsConfig },
  shutdown: { drainTimeoutMs: 30_000, delayMs: 0 },
  accessLog: false,
  weight: 1,
  kubernetes: { api: 'endpointslices' as KubernetesApi, ipFamily: 'auto' as IpFamily, watchdogMs: 30_000 },
} as const;
