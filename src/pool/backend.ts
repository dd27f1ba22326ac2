// One upstream server: its identity, live health state, counters and its own keep-alive
// connection pool. State changes go through Pool; the proxy only acquires and releases.

// undici's Pool module alone: the package index also loads fetch, WebSocket, cache and mock code
// (~12 MB of RSS). Pool.dispatch() is all the proxy uses.
import ConnectionPool from 'undici/lib/dispatcher/pool.js';

export type BackendHealth = 'unknown' | 'healthy' | 'unhealthy';
export type BackendState = BackendHealth | 'draining';

export interface ProbeResult {
  at: number;
  ok: boolean;
  status?: number;
  error?: string;
  latencyMs: number;
}

export interface BackendMeta {
  pod?: string;
  node?: string;
  zone?: string;
}

/** What a source wants in the pool. `terminating`: serving but going away (used only as a fallback). */
export interface DesiredBackend {
  url: string;
  weight: number;
  terminating?: boolean;
  meta?: BackendMeta;
}

export interface ConnectionSettings {
  connectMs: number;
}

export class Backend {
  readonly url: string;
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
  lastProbe: ProbeResult | undefined;
  lastError: string | undefined;
  stateSince = Date.now();
  private connection: ConnectionSettings;
  private pool: ConnectionPool | undefined;
  /** Called by release() when a leaving backend has no request left. */
  onIdle: ((backend: Backend) => void) | undefined;

  constructor(desired: DesiredBackend, source: string, connection: ConnectionSettings) {
    this.url = desired.url;
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
    return (this.pool ??= createDispatcher(this.url, this.connection));
  }

  get state(): BackendState {
    return this.leaving || this.terminating ? 'draining' : this.health;
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
    this.pool = undefined;
    old?.close().catch(() => {});
  }

  close(): void {
    this.pool?.close().catch(() => {});
  }
}

function createDispatcher(url: string, connection: ConnectionSettings): ConnectionPool {
  return new ConnectionPool(url, {
    connectTimeout: connection.connectMs,
    // The response timeout is passed per request; body streams may idle as long as they need.
    bodyTimeout: 0,
  });
}
