// The running balancer: wires sources → pool → balancer → proxy, health beside the pool and
// admin reading snapshots; applies reloads; shuts down without dropping requests.

import type { Server } from 'node:http';
import { Server as NetServer, type AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import { createAdminServer } from './admin/admin-server.ts';
import { TrafficHistory } from './admin/history.ts';
import type { AdminView, DiscoveryStatus } from './admin/status.ts';
import type { Config, ListenAddress } from './config/config.ts';
import { SluiceError } from './errors.ts';
import { ActiveProber } from './health/active-prober.ts';
import { Pool } from './pool/pool.ts';
import type { LogFormat } from './log.ts';
import { AccessLog } from './observers/access-log.ts';
import { Metrics, type TrafficSnapshot } from './observers/metrics.ts';
import { ClientConnections } from './proxy/client-connections.ts';
import { Forwarder } from './proxy/forwarder.ts';
import { H2Sessions } from './proxy/h2-adapter.ts';
import { createCleartextListener, routeByAlpn, type ListenerTargets } from './proxy/listener.ts';
import { TlsListener } from './tls/tls-listener.ts';
import { shouldUpgrade, UpgradeTunnels } from './proxy/tunnel.ts';
import { buildRuntime, restartNeeded, RuntimeRef, type Runtime } from './runtime.ts';
import { ConfigFileSource } from './sources/config-file-source.ts';
import { version } from './version.ts';
import { startDiscovery, type DiscoveryOptions, type DiscoverySource } from './sources/discovery.ts';

// node:http by getBuiltinModule, not an ES import: making the ES namespace reads every export,
// and http's WebSocket/MessageEvent/CloseEvent getters then load Node's own bundled undici (~3 MB RSS).
const { createServer } = process.getBuiltinModule('node:http');

export interface SluiceOptions {
  /** The config file's text as first read, so the watcher does not re-apply it. */
  configText?: string;
  /** Watch the config file for changes (off for built-in configs such as the demo). */
  watchConfig?: boolean;
  discovery?: DiscoveryOptions;
  /** The access log's format, as for the rest of the log. */
  logFormat?: LogFormat;
}

const STATIC_SOURCE = 'config';
/** At shutdown, a keep-alive connection is closed once it has been between requests this long. */
const SHUTDOWN_IDLE_CLOSE_MS = 1_000;

export class Sluice implements AdminView {
  readonly pool: Pool;
  readonly startedAt = Date.now();
  configLoadedAt = Date.now();
  lastReloadError: { at: number; message: string } | undefined;
  /** Keys changed in the file that only a restart applies. */
  pendingRestart: string[] = [];
  private readonly runtime: RuntimeRef;
  private readonly log: Logger;
  private readonly options: SluiceOptions;
  private readonly prober: ActiveProber;
  private readonly forwarder: Forwarder;
  private readonly tunnels: UpgradeTunnels;
  private readonly proxyServer: Server;
  private readonly h2: H2Sessions;
  /** The socket that accepts: sorts connections into proxyServer (HTTP/1.1) and h2 (HTTP/2). */
  private readonly listener: NetServer;
  private readonly tls: TlsListener | undefined;
  private readonly connections: ClientConnections;
  private readonly adminServer: Server;
  private accessLog: AccessLog | undefined;
  private readonly metrics: Metrics | undefined;
  /** The status page's graphs: the last minutes in a bounded ring. */
  private readonly history: TrafficHistory;
  private readonly reloads = { ok: 0, failed: 0 };
  private configSource: ConfigFileSource | undefined;
  private discovery: DiscoverySource | undefined;
  private stopping: Promise<void> | undefined;
  /** Addresses actually bound (port 0 resolves to a real port). */
  proxyAddress = '';
  adminAddress = '';

  constructor(config: Config, log: Logger, options: SluiceOptions = {}) {
    this.runtime = new RuntimeRef(buildRuntime(config));
    this.log = log;
    this.options = options;
    this.pool = new Pool(log, () => this.runtime.current.pool);
    this.prober = new ActiveProber(this.pool, () => this.runtime.current.config.healthCheck, () => this.runtime.current.pool.connection);
    this.forwarder = new Forwarder(this.pool, this.runtime, log);
    this.tunnels = new UpgradeTunnels(this.forwarder);
    const metrics = config.admin.metrics ? this.createMetrics() : undefined;
    this.metrics = metrics;
    this.history = new TrafficHistory(() => this.pool.all);
    this.pool.events = {
      added: (backend) => this.prober.start(backend),
      removed: (backend) => this.prober.stop(backend),
      probed: metrics && ((backend, result) => metrics.probed(backend, result)),
      ejected: metrics && ((backend) => metrics.ejected(backend)),
    };
    const { clientHeaderMs } = config.timeouts;
    this.proxyServer = createServer({
      // How often Node checks for request heads that take longer than timeouts.clientHeader.
      connectionsCheckingInterval: Math.min(1000, Math.max(100, Math.floor(clientHeaderMs / 4))),
      shouldUpgradeCallback: shouldUpgrade,
    }, this.forwarder.handle);
    this.proxyServer.on('upgrade', this.tunnels.handle);
    this.connections = new ClientConnections(this.proxyServer);
    this.h2 = new H2Sessions(this.runtime, this.forwarder.handle);
    const targets: ListenerTargets = { http1: this.proxyServer, http2: this.h2, firstBytesMs: () => this.config.timeouts.clientHeaderMs };
    if (config.tls !== undefined) {
      this.tls = new TlsListener(config.tls, log, { handshakeTimeoutMs: clientHeaderMs, secureConnection: (socket) => routeByAlpn(socket, targets) });
      this.listener = this.tls.server;
    } else {
      this.listener = createCleartextListener(targets);
    }
    this.applyServerSettings(this.runtime.current);
    this.applyObservers(this.runtime.current);
    this.adminServer = createAdminServer(this);
  }

  private get config(): Config {
    return this.runtime.current.config;
  }

  get shuttingDown(): boolean {
    return this.forwarder.shuttingDown;
  }

  get balancerName(): string {
    return this.runtime.current.balancer.name;
  }

  get configFile(): string {
    return this.config.file;
  }

  discoveryStatus(): DiscoveryStatus | undefined {
    return this.discovery?.status();
  }

  /** Every configured source has handed over its first complete set (false while one is still starting). */
  discoverySynced(): boolean {
    if (this.config.discovery.kubernetes === undefined) return true;
    return this.discovery?.synced ?? false;
  }

  /** upstream.tls.insecureSkipVerify is a switch people forget: say so every time it is applied. */
  private warnInsecure(runtime: Runtime): void {
    if (runtime.config.upstream.tls.insecureSkipVerify) this.log.warn({ key: 'upstream.tls.insecureSkipVerify' }, 'backend certificates are not verified');
  }

  async start(): Promise<void> {
    this.warnInsecure(this.runtime.current);
    this.pool.reconcile(STATIC_SOURCE, this.config.backends);
    this.proxyAddress = await listen(this.listener, this.config.listen, 'proxy');
    try {
      this.adminAddress = await listen(this.adminServer, this.config.admin.listen, 'admin');
    } catch (err) {
      this.listener.close();
      throw err;
    }
    // The HTTP/1.1 server is handed connections, never listens itself; its head-timeout checker
    // starts on 'listening', so it is told the port is open.
    this.proxyServer.emit('listening');
    this.tls?.watch();
    this.log.info({ address: this.proxyAddress }, 'proxy listening');
    this.log.info({ address: this.adminAddress }, 'admin listening');
    this.history.start();
    if (this.config.discovery.kubernetes) {
      this.discovery = await startDiscovery(this.config.discovery.kubernetes, this.pool, this.log, this.options.discovery ?? {});
    }
    if (this.options.watchConfig && this.config.file) {
      this.configSource = new ConfigFileSource(this.config.file, this.options.configText, {
        config: (config) => this.apply(config),
        invalid: (message) => this.rejectReload(message),
      });
      this.configSource.start();
    }
  }

  /** SIGHUP: re-read the config file now. */
  reload(): Promise<void> {
    return this.configSource?.reload(true) ?? Promise.resolve();
  }

  /** A valid new config: one new runtime snapshot, swapped in here and nowhere else. */
  private apply(next: Config): void {
    const previous = this.runtime.current;
    const running = previous.config;
    this.pendingRestart = restartNeeded(running, next);
    for (const key of this.pendingRestart) this.log.warn({ key }, 'this setting changes only on restart');
    // Keep what cannot change live, so /status says what is really running.
    const effective: Config = { ...next, listen: running.listen, tls: running.tls, admin: running.admin, discovery: running.discovery };
    let runtime: Runtime;
    try {
      runtime = buildRuntime(effective, previous);
    } catch (err) {
      // A file named in the config (upstream.tls) vanished between validation and now.
      this.rejectReload(`cannot apply ${next.file}: ${(err as Error).message}`);
      return;
    }
    this.warnInsecure(runtime);
    this.runtime.current = runtime;
    this.applyServerSettings(runtime);
    this.h2.settingsChanged();
    this.applyObservers(runtime);
    this.pool.settingsChanged();
    this.prober.settingsChanged();
    this.pool.reconcile(STATIC_SOURCE, next.backends);
    this.configLoadedAt = Date.now();
    this.lastReloadError = undefined;
    this.reloads.ok++;
    this.log.info({ file: next.file, backends: next.backends.length }, 'config reloaded');
  }

  private createMetrics(): Metrics {
    return new Metrics({
      backends: () => this.pool.all,
      retries: () => this.forwarder.retries,
      clientConnections: () => this.connections.size + this.h2.size,
      tunnels: () => this.tunnels.size,
      reloads: () => this.reloads,
      discovery: () => this.discovery?.status(),
      topology: () => this.pool.topologyStatus(),
      version: version(),
    });
  }

  /** Prometheus text, or undefined when admin.metrics is off. */
  renderMetrics(): string | undefined {
    return this.metrics?.render();
  }

  /** `GET /status/traffic`, or undefined when admin.metrics is off. */
  renderTraffic(): TrafficSnapshot | undefined {
    return this.metrics?.traffic();
  }

  /** `GET /status/history`: the graphs' samples. */
  renderHistory(): object {
    return this.history.render();
  }

  /** Access log on or off, live. */
  private applyObservers(runtime: Runtime): void {
    if (runtime.config.accessLog && this.accessLog === undefined) this.accessLog = new AccessLog(this.options.logFormat ?? 'json');
    if (!runtime.config.accessLog && this.accessLog !== undefined) {
      this.accessLog.close();
      this.accessLog = undefined;
    }
    this.forwarder.observers = [this.metrics, this.history, this.accessLog].filter((o) => o !== undefined);
  }

  /** The listener's own settings; Node reads each of them per connection or per request. */
  private applyServerSettings(runtime: Runtime): void {
    const { timeouts } = runtime.config;
    const server = this.proxyServer;
    server.keepAliveTimeout = timeouts.clientIdleMs;
    server.headersTimeout = timeouts.clientHeaderMs;
    // The whole request may take long (large uploads); timeouts.idle cuts one that stops moving.
    server.requestTimeout = 0;
    this.listener.maxConnections = runtime.maxConnections;
  }

  private rejectReload(message: string): void {
    this.lastReloadError = { at: Date.now(), message };
    this.reloads.failed++;
    this.log.error({ error: message }, 'config reload rejected; keeping the running config');
  }

  /**
   * Readiness turns false at once; after shutdown.delay the proxy stops accepting; in-flight
   * requests get up to shutdown.drainTimeout to finish.
   */
  shutdown(reason: string): Promise<void> {
    this.stopping ??= this.drainAndClose(reason);
    return this.stopping;
  }

  private async drainAndClose(reason: string): Promise<void> {
    const { delayMs, drainTimeoutMs } = this.config.shutdown;
    this.forwarder.shuttingDown = true;
    this.log.info({ reason, delayMs, drainTimeoutMs }, 'shutting down');
    this.configSource?.stop();
    if (delayMs > 0) await new Promise((resolve) => setTimeout(resolve, delayMs));
    const deadline = Date.now() + drainTimeoutMs;
    // net.Server's close only stops accepting: http.Server's would also close idle keep-alive
    // connections at once, under a request a client may be sending right now.
    let listenerClosed = false;
    this.listener.close(() => { listenerClosed = true; });
    this.tls?.close();
    // HTTP/2 clients get GOAWAY: streams already open finish, new ones go elsewhere.
    this.h2.goAwayAll();
    // Every response from now on says "Connection: close"; connections between requests are
    // closed once they have been idle a moment. Tunnels are closed when no HTTP request is left.
    while (Date.now() < deadline && !(listenerClosed && this.pool.inflight === 0)) {
      if (this.pool.inflight === this.tunnels.size) this.tunnels.closeAll();
      this.connections.closeIdle(SHUTDOWN_IDLE_CLOSE_MS);
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    const left = this.pool.inflight;
    if (left > 0 || !listenerClosed) {
      this.log.warn({ inflight: left, connections: this.connections.size }, 'drain timeout passed; closing remaining connections');
      this.connections.closeAll();
      this.h2.destroyAll();
    }
    await this.discovery?.stop();
    this.prober.close();
    this.history.stop();
    this.pool.close();
    this.accessLog?.close();
    await new Promise<void>((resolve) => this.adminServer.close(() => resolve()));
    this.adminServer.closeAllConnections();
    this.log.info('stopped');
  }
}

function listen(server: NetServer, address: ListenAddress, role: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException): void => {
      const why = err.code === 'EADDRINUSE' ? 'the address is already in use'
        : err.code === 'EACCES' ? 'permission denied (ports below 1024 need privileges)'
        : err.code === 'EADDRNOTAVAIL' ? 'the host address is not on this machine'
        : err.code === 'ENOTFOUND' || err.code === 'EAI_AGAIN' ? 'the host name does not resolve'
        : err.message;
      reject(new SluiceError('SLUICE_LISTEN', `cannot listen on "${address.text}" for the ${role} listener: ${why}.`, 1));
    };
    server.once('error', onError);
    server.listen({ host: address.host, port: address.port }, () => {
      server.off('error', onError);
      const bound = server.address() as AddressInfo;
      resolve(bound.family === 'IPv6' ? `[${bound.address}]:${bound.port}` : `${bound.address}:${bound.port}`);
    });
  });
}
