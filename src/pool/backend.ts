// One upstream server: its identity, live health state, counters and its own keep-alive
// connection pool. State changes go through Pool; the proxy only acquires and releases.

// undici's Pool module alone: the package index also loads fetch, WebSocket, cache and mock code
// (~12 MB of RSS). Pool.dispatch() is all the proxy uses.
import ConnectionPool from 'undici/lib/dispatcher/pool.js';
import type { UpstreamProtocol } from '../config/config.ts';
import { holdUpstreamTrailersUntilDataRead } from './upstream-h2-trailers.ts';

export type BackendHealth = 'unknown' | 'healthy' | 'unhealthy';
/** `ejected`: taken out for a while by passive health (real traffic failed), whatever the probes say. */
export type BackendState = BackendHealth | 'ejected' | 'draining';

/** Why a backend was ejected: a connection could not be made, or requests kept failing. */
export type EjectionCause = 'connect' | 'requests';

export interface ProbeResult {
  at: number;
  ok: boolean;
  status?: number;
  error?: string;
  latencyMs: number;
  /** The probe could not run for a reason of sluice's own (e.g. EMFILE): not held against the backend. */
  local?: boolean;
}

export interface BackendMeta {
  pod?: string;
  node?: string;
  zone?: string;
  /** EndpointSlice hints: the zones this endpoint should serve (topology-aware routing). */
  forZones?: string[];
}

/** What a source wants in the pool. `terminating`: serving but going away (used only as a fallback). */
export interface DesiredBackend {
  url: string;
  weight: number;
  terminating?: boolean;
  meta?: BackendMeta;
  /** undefined: the upstream default (ConnectionSettings.protocol). */
  protocol?: UpstreamProtocol;
}

export interface ConnectionSettings {
  connectMs: number;
  /** Connections to this backend at most; requests beyond wait in the backend's queue. */
  maxConnections: number;
  /** For backends that do not name their own (upstream.protocol). */
  protocol: UpstreamProtocol;
  /** TLS towards https:// backends (upstream.tls), files already read; undefined: Node's defaults. */
  tls?: UpstreamTls;
  /** Identifies the settings, so a reload that changes none of them keeps the connections. */
  key?: string;
}

export interface UpstreamTls {
  ca?: Buffer;
  servername?: string;
  cert?: Buffer;
  key?: Buffer;
  rejectUnauthorized: boolean;
}

export class Backend {
  readonly url: string;
  /** What its current connection pool speaks. */
  protocol: UpstreamProtocol = 'http1';
  weight: number;
  source: string;
  meta: BackendMeta | undefined;
  health: BackendHealth = 'unknown';
  /** Removed from every source: finishing in-flight requests, then closed. */
  leaving = false;
  /** Still serving, but its source says it is going away. */
  terminating = false;
  requests = 0;
  inflight = 0;
  failures = 0;
  consecutivePasses = 0;
  consecutiveFailures = 0;
  /** Requests in a row that failed after they were sent (passive health). */
  consecutiveRequestFailures = 0;
  /** Epoch ms until which the backend is ejected; 0 when it is not. */
  ejectedUntil = 0;
  ejectionCause: EjectionCause | undefined;
  /** Ejections in a row: each lasts one ejection time longer, up to the maximum. */
  ejections = 0;
  lastEjectionEnded = 0;
  lastProbe: ProbeResult | undefined;
  lastError: string | undefined;
  lastErrorAt = 0;
  /** Connections opened to the backend so far (for metrics). */
  connectionsOpened = 0;
  stateSince = Date.now();
  private connection: ConnectionSettings;
  private pool: ConnectionPool | undefined;
  private own: UpstreamProtocol | undefined;
  /** Called by release() when a leaving backend has no request left. */
  onIdle: ((backend: Backend) => void) | undefined;

  constructor(desired: DesiredBackend, source: string, connection: ConnectionSettings) {
    this.url = desired.url;
    this.own = desired.protocol;
    this.protocol = this.own ?? connection.protocol;
    this.weight = desired.weight;
    this.source = source;
    this.meta = desired.meta;
    this.terminating = desired.terminating ?? false;
    this.connection = connection;
  }

  /**
   * The backend's keep-alive pool, made on first use: a backend that never gets a request (most
   * of a large discovered set, at any moment) holds no pool (~tens of KB each, measured).
   */
  get dispatcher(): ConnectionPool {
    if (this.pool === undefined) {
      this.pool = createDispatcher(this.url, this.connection, this.protocol);
      this.pool.on('connect', () => { this.connectionsOpened++; });
    }
    return this.pool;
  }

  /** upstream.tls for an https:// backend, for connections made beside its pool (WebSocket tunnels). */
  get tls(): UpstreamTls | undefined {
    return this.url.startsWith('https:') ? this.connection.tls : undefined;
  }

  /** Its own protocol, if its source names one; else it speaks the upstream default. */
  get ownProtocol(): UpstreamProtocol | undefined {
    return this.own;
  }

  get state(): BackendState {
    if (this.leaving || this.terminating) return 'draining';
    return this.ejectedUntil > 0 ? 'ejected' : this.health;
  }

  acquire(): void {
    this.requests++;
    this.inflight++;
  }

  release(): void {
    this.inflight--;
    if (this.inflight === 0 && this.leaving && this.onIdle) this.onIdle(this);
  }

  /** New connections use the new settings; open ones finish on the old pool. */
  reconnect(connection: ConnectionSettings): void {
    const old = this.pool;
    this.connection = connection;
    this.protocol = this.own ?? connection.protocol;
    this.pool = undefined;
    old?.close().catch(() => {});
  }

  /**
   * Its source names another protocol (or none any more). When that changes what it speaks, new
   * requests get a connection pool of the new protocol and in-flight ones finish on the old one,
   * as for reconnect(). True when the protocol it speaks changed.
   */
  changeOwnProtocol(protocol: UpstreamProtocol | undefined): boolean {
    this.own = protocol;
    if ((protocol ?? this.connection.protocol) === this.protocol) return false;
    this.reconnect(this.connection);
    return true;
  }

  close(): void {
    this.pool?.close().catch(() => {});
  }
}

function createDispatcher(url: string, connection: ConnectionSettings, protocol: UpstreamProtocol): ConnectionPool {
  if (protocol !== 'http1') holdUpstreamTrailersUntilDataRead();
  return new ConnectionPool(url, {
    connectTimeout: connection.connectMs,
    // HTTP/2 multiplexes: undici opens another connection only when one has no stream left.
    connections: connection.maxConnections,
    // undici's connector turns TCP keep-alive on (60 s) for every upstream socket by default.
    // The response timeout is passed per request; body streams may idle as long as they need.
    bodyTimeout: 0,
    // http1 is HTTP/1.1 even where TLS could negotiate h2; h2c is HTTP/2 with prior knowledge.
    allowH2: protocol !== 'http1',
    // (undici 8.13 honours the top-level useH2c; h2Options.useH2c does not reach the connection.)
    ...(protocol === 'h2c' ? { useH2c: true } : {}),
    ...(connection.tls !== undefined && url.startsWith('https:') ? { connect: connection.tls } : {}),
  });
}
