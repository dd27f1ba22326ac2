// The running balancer: wires sources → pool → balancer → proxy, health beside the pool and
// admin reading snapshots; applies reloads; shuts down without dropping requests.

import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import { createAdminServer } from './admin/admin-server.ts';
import type { AdminView, DiscoveryStatus } from './admin/status.ts';
import { createBalancer } from './balancer/balancer.ts';
import type { Config, ListenAddress } from './config/config.ts';
import { SluiceError } from './errors.ts';
import { ActiveProber } from './health/active-prober.ts';
import { Pool } from './pool/pool.ts';
import { Forwarder } from './proxy/forwarder.ts';
import { UpgradeTunnel } from './proxy/websocket.ts';
import { ConfigFileSource } from './sources/config-file-source.ts';
import { startDiscovery, type DiscoveryOptions, type DiscoverySource } from './sources/discovery.ts';

export interface SluiceOptions {
  /** The config file's text as first read, so the watcher does not re-apply it. */
  configText?: string;
  /** Watch the config file for changes (off for built-in configs such as the demo). */
  watchConfig?: boolean;
  discovery?: DiscoveryOptions;
}

const STATIC_SOURCE = 'config';

export class Sluice implements AdminView {
  readonly pool: Pool;
  readonly startedAt = Date.now();
  configLoadedAt = Date.now();
  lastReloadError: { at: number; message: string } | undefined;
  private config: Config;
  private readonly log: Logger;
  private readonly options: SluiceOptions;
  private readonly prober: ActiveProber;
  private readonly forwarder: Forwarder;
  private readonly proxyServer: Server;
  private readonly adminServer: Server;
  private configSource: ConfigFileSource | undefined;
  private discovery: DiscoverySource | undefined;
  private stopping: Promise<void> | undefined;
  /** Addresses actually bound (port 0 resolves to a real port). */
  proxyAddress = '';
  adminAddress = '';

  constructor(config: Config, log: Logger, options: SluiceOptions = {}) {
    this.config = config;
    this.log = log;
    this.options = options;
    this.pool = new Pool(log, { connectMs: config.timeouts.connectMs }, config.healthCheck);
    this.prober = new ActiveProber(this.pool, config.healthCheck);
    this.pool.events = {
      added: (backend) => this.prober.start(backend),
      removed: (backend) => this.prober.stop(backend),
    };
    this.forwarder = new Forwarder({
      pool: this.pool,
      balancer: createBalancer(config.balancer),
      retries: config.retries,
      responseTimeoutMs: config.timeouts.responseMs,
      accessLog: config.accessLog,
      shuttingDown: false,
      log,
    });
    this.proxyServer = createServer({
      keepAliveTimeout: config.timeouts.clientIdleMs,
      // Large uploads may take long; slow-header attacks are still cut by headersTimeout.
      requestTimeout: 0,
    }, this.forwarder.handle);
    this.proxyServer.on('upgrade', new UpgradeTunnel(this.forwarder).handle);
    this.proxyServer.on('clientError', (err: NodeJS.ErrnoException, socket) => {
      if (err.code === 'ECONNRESET' || !socket.writable) {
        socket.destroy();
        return;
      }
      socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
    });
    this.adminServer = createAdminServer(this);
  }

  get shuttingDown(): boolean {
    return this.forwarder.state.shuttingDown;
  }

  get balancerName(): string {
    return this.forwarder.state.balancer.name;
  }

  get configFile(): string {
    return this.config.file;
  }

  discoveryStatus(): DiscoveryStatus | undefined {
    return this.discovery?.status();
  }

  discoverySynced(): boolean {
    return this.discovery?.synced ?? true;
  }

  async start(): Promise<void> {
    this.pool.reconcile(STATIC_SOURCE, this.config.backends);
    this.proxyAddress = await listen(this.proxyServer, this.config.listen, 'proxy');
    try {
      this.adminAddress = await listen(this.adminServer, this.config.admin.listen, 'admin');
    } catch (err) {
      this.proxyServer.close();
      throw err;
    }
    this.log.info({ address: this.proxyAddress }, 'proxy listening');
    this.log.info({ address: this.adminAddress }, 'admin listening');
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

  private apply(next: Config): void {
    const prev = this.config;
    for (const [what, a, b] of [['listen', prev.listen, next.listen], ['admin.listen', prev.admin.listen, next.admin.listen]] as const) {
      if (a.text !== b.text) this.log.warn({ key: what, running: a.text, wanted: b.text }, 'listen addresses change only on restart');
    }
    if (JSON.stringify(prev.discovery) !== JSON.stringify(next.discovery)) {
      this.log.warn({ key: 'discovery' }, 'discovery settings change only on restart');
    }
    const state = this.forwarder.state;
    if (prev.balancer !== next.balancer) state.balancer = createBalancer(next.balancer);
    state.retries = next.retries;
    state.responseTimeoutMs = next.timeouts.responseMs;
    state.accessLog = next.accessLog;
    this.prober.update(next.healthCheck);
    this.pool.thresholds = next.healthCheck;
    this.pool.setConnectionSettings({ connectMs: next.timeouts.connectMs });
    this.pool.reconcile(STATIC_SOURCE, next.backends);
    // Keep what cannot change live, so /status says what is really running.
    this.config = { ...next, listen: prev.listen, admin: prev.admin, discovery: prev.discovery };
    this.configLoadedAt = Date.now();
    this.lastReloadError = undefined;
    this.log.info({ file: next.file, backends: next.backends.length }, 'config reloaded');
  }

  private rejectReload(message: string): void {
    this.lastReloadError = { at: Date.now(), message };
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
    this.forwarder.state.shuttingDown = true;
    this.log.info({ reason, delayMs, drainTimeoutMs }, 'shutting down');
    this.configSource?.stop();
    if (delayMs > 0) await new Promise((resolve) => setTimeout(resolve, delayMs));
    const deadline = Date.now() + drainTimeoutMs;
    const closed = new Promise<void>((resolve) => this.proxyServer.close(() => resolve()));
    let serverClosed = false;
    void closed.then(() => { serverClosed = true; });
    // Keep-alive connections close as soon as their current response is done.
    while (Date.now() < deadline && !(serverClosed && this.inflight() === 0)) {
      this.proxyServer.closeIdleConnections();
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    const left = this.inflight();
    if (left > 0 || !serverClosed) {
      this.log.warn({ inflight: left }, 'drain timeout passed; closing remaining connections');
      this.proxyServer.closeAllConnections();
    }
    await this.discovery?.stop();
    this.prober.close();
    this.pool.close();
    await new Promise<void>((resolve) => this.adminServer.close(() => resolve()));
    this.adminServer.closeAllConnections();
    this.log.info('stopped');
  }

  private inflight(): number {
    let sum = 0;
    for (const backend of this.pool.all) sum += backend.inflight;
    return sum;
  }
}

function listen(server: Server, address: ListenAddress, role: string): Promise<string> {
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
