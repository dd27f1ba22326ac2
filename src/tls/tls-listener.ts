// TLS on the proxy listener: ALPN offers h2 and http/1.1; certificate and key are re-read when
// their files change and swapped in with setSecureContext, so open connections keep theirs and
// new handshakes get the new one. Kubernetes Secret volumes replace files by swapping a "..data"
// symlink in the directory, so the directory is watched, not the file.

import { watch, readFileSync, type FSWatcher } from 'node:fs';
import { dirname } from 'node:path';
import { createHash } from 'node:crypto';
import { Server as TlsServer, type SecureContextOptions, type TLSSocket } from 'node:tls';
import type { Logger } from 'pino';
import type { TlsConfig } from '../config/config.ts';
import { SluiceError } from '../errors.ts';

/** Changes come as bursts of events (a symlink swap is several renames): read once they settle. */
const SETTLE_MS = 100;

export interface TlsListenerOptions {
  /** The TLS handshake must finish within this (timeouts.clientHeader). */
  handshakeTimeoutMs: number;
  secureConnection: (socket: TLSSocket) => void;
}

export class TlsListener {
  readonly server: TlsServer;
  private readonly config: TlsConfig;
  private readonly log: Logger;
  private readonly watchers: FSWatcher[] = [];
  private timer: NodeJS.Timeout | undefined;
  private fingerprint: string;

  constructor(config: TlsConfig, log: Logger, options: TlsListenerOptions) {
    this.config = config;
    this.log = log;
    const context = readContext(config);
    this.fingerprint = context.fingerprint;
    const mtls = config.clientCA !== '';
    try {
      this.server = new TlsServer({
        ...context.options,
        ALPNProtocols: ['h2', 'http/1.1'],
        requestCert: mtls,
        rejectUnauthorized: mtls,
        handshakeTimeout: options.handshakeTimeoutMs,
        noDelay: true,
      }, options.secureConnection);
    } catch (err) {
      throw new SluiceError('SLUICE_TLS', `the TLS certificate "${config.cert}" and key "${config.key}" do not load: ${messageOf(err)}.`, 1);
    }
    // A failed handshake is the client's business; it must not reach the process.
    this.server.on('tlsClientError', (_err, socket) => socket.destroy());
  }

  /** Starts watching the certificate's and key's directories. */
  watch(): void {
    for (const dir of new Set([dirname(this.config.cert), dirname(this.config.key), ...(this.config.clientCA ? [dirname(this.config.clientCA)] : [])])) {
      try {
        const watcher = watch(dir, () => this.changed());
        watcher.on('error', (err) => this.log.warn({ dir, error: err.message }, 'cannot watch the TLS directory any more'));
        this.watchers.push(watcher);
      } catch (err) {
        this.log.warn({ dir, error: (err as Error).message }, 'cannot watch the TLS directory; certificate changes need a restart');
      }
    }
  }

  private changed(): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.reload(), SETTLE_MS);
    this.timer.unref();
  }

  /** Reads the files again; a pair that does not load keeps the running one. */
  reload(): void {
    let context: LoadedContext;
    try {
      context = readContext(this.config);
      if (context.fingerprint === this.fingerprint) return;
      this.server.setSecureContext(context.options);
    } catch (err) {
      this.log.error({ cert: this.config.cert, error: messageOf(err) }, 'new TLS certificate not loaded; keeping the running one');
      return;
    }
    this.fingerprint = context.fingerprint;
    this.log.info({ cert: this.config.cert }, 'TLS certificate reloaded');
  }

  close(): void {
    clearTimeout(this.timer);
    for (const watcher of this.watchers.splice(0)) watcher.close();
  }
}

interface LoadedContext {
  options: SecureContextOptions;
  fingerprint: string;
}

function readContext(config: TlsConfig): LoadedContext {
  const cert = readPem(config.cert, 'tls.cert');
  const key = readPem(config.key, 'tls.key');
  const ca = config.clientCA ? readPem(config.clientCA, 'tls.clientCA') : undefined;
  const hash = createHash('sha256').update(cert).update(key);
  if (ca !== undefined) hash.update(ca);
  const options: SecureContextOptions = { cert, key, minVersion: config.minVersion, ...(ca !== undefined ? { ca } : {}) };
  return { options, fingerprint: hash.digest('hex') };
}

function readPem(path: string, key: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    throw new SluiceError('SLUICE_TLS', `cannot read ${key} "${path}": ${messageOf(err)}.`, 1);
  }
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
