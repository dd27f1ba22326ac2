// WebSocket upgrades: balanced like any request (same header policy, connect and response
// timeouts, a retry elsewhere when the connect failed), then a byte tunnel both ways that ends
// when both sides have ended, `halfClose` after the first one, or after `tunnelIdle` of silence.
// Only GET + "Upgrade: websocket" gets here (see shouldUpgrade); other Upgrades are served as
// plain HTTP/1.1. A tunnel counts as in flight on its backend until it ends.
//
// http-proxy was the tunnel engine before: it has no connect or response timeout, cannot retry,
// applies its own header rules, and prints a deprecation warning (DEP0060) at every start.

import type { ClientRequest, IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Backend } from '../pool/backend.ts';
import { classifyFailure, ConnectionError, describeError } from '../pool/connection-errors.ts';
import type { Runtime } from '../runtime.ts';
import { trackRequest } from './client-connections.ts';
import { originForm, type Forwarder } from './forwarder.ts';
import { downstreamResponseHeaderList, schemeOf, upstreamRequestHeaders } from './headers.ts';
import { rawErrorResponse, rawResponse } from './upstream-errors.ts';

// By getBuiltinModule, not ES imports: see src/sluice.ts.
const { request: httpRequest } = process.getBuiltinModule('node:http');
const { request: httpsRequest } = process.getBuiltinModule('node:https');

/** Node calls this for every request with an Upgrade header: true sends it to the tunnel. */
export function shouldUpgrade(req: IncomingMessage): boolean {
  return req.method === 'GET' && /(?:^|,)\s*websocket\s*(?:,|$)/i.test(req.headers.upgrade ?? '');
}

// WebSocket close frames with status 1001 "going away": unmasked towards the client, masked
// (with a zero mask, which RFC 6455 allows) towards the backend.
const CLOSE_TO_CLIENT = Buffer.from([0x88, 0x02, 0x03, 0xe9]);
const CLOSE_TO_BACKEND = Buffer.from([0x88, 0x82, 0, 0, 0, 0, 0x03, 0xe9]);

export class UpgradeTunnels {
  private readonly forwarder: Forwarder;
  private readonly open = new Set<Tunnel>();

  constructor(forwarder: Forwarder) {
    this.forwarder = forwarder;
  }

  get size(): number {
    return this.open.size;
  }

  handle = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    socket.on('error', () => socket.destroy());
    // Never "between requests" from here on: shutdown ends it with a close frame, not as idle.
    trackRequest(socket as Socket);
    if (this.forwarder.shuttingDown) {
      socket.end(rawResponse(503, 'Service Unavailable', 'Service Unavailable: shutting down.\n'));
      return;
    }
    const runtime = this.forwarder.runtime.current;
    const headers = upstreamRequestHeaders(req, { proto: schemeOf(req), trusted: runtime.isTrustedProxy(req.socket.remoteAddress), upgrade: 'websocket' });
    new UpgradeAttempts(this, runtime, req, socket as Socket, head, headers).next();
  };

  /** Shutdown: every tunnel gets a close frame both ways, then `halfClose` to finish. */
  closeAll(): void {
    for (const tunnel of this.open) tunnel.goAway();
  }

  /** @internal */
  opened(tunnel: Tunnel): void {
    this.open.add(tunnel);
  }

  /** @internal */
  closed(tunnel: Tunnel): void {
    this.open.delete(tunnel);
  }

  get pool() {
    return this.forwarder.pool;
  }

  get log() {
    return this.forwarder.log;
  }

  get shuttingDown(): boolean {
    return this.forwarder.shuttingDown;
  }
}

/** Tries backends until one answers the upgrade request; then hands both sockets to a Tunnel. */
class UpgradeAttempts {
  private readonly tunnels: UpgradeTunnels;
  private readonly runtime: Runtime;
  private readonly req: IncomingMessage;
  private readonly client: Socket;
  private readonly head: Buffer;
  private readonly headers: string[];
  private readonly tried: Backend[] = [];
  private upstream: ClientRequest | undefined;
  private clientGone = false;

  constructor(tunnels: UpgradeTunnels, runtime: Runtime, req: IncomingMessage, client: Socket, head: Buffer, headers: string[]) {
    this.tunnels = tunnels;
    this.runtime = runtime;
    this.req = req;
    this.client = client;
    this.head = head;
    this.headers = headers;
    // A client that leaves before the backend answered, by reset or by a plain FIN (server
    // sockets allow half-open connections, so a FIN alone never becomes 'close').
    client.once('close', this.onClientGone);
    client.once('end', this.onClientGone);
  }

  private readonly onClientGone = (): void => {
    this.clientGone = true;
    this.upstream?.destroy();
    this.client.destroy();
  };

  /** The backend answered: from here on the tunnel (or the relayed refusal) owns the client socket. */
  private answered(): void {
    this.client.off('close', this.onClientGone);
    this.client.off('end', this.onClientGone);
  }

  next(): void {
    if (this.clientGone) return;
    const { timeouts } = this.runtime.config;
    const full = this.runtime.backendCapacity;
    // The pool's own array (not a filtered copy): policies cache per candidate set.
    const candidates = this.tunnels.pool.candidates;
    const backend = this.runtime.balancer.pick(candidates, this.tried.concat(candidates.filter((b) => b.inflight >= full)), this.req);
    if (backend === undefined) {
      const status = this.tried.length > 0 ? rawErrorResponse(502) : rawErrorResponse(503, true);
      this.client.end(status);
      return;
    }
    backend.acquire();
    let released = false;
    const release = (): void => {
      if (!released) {
        released = true;
        backend.release();
      }
    };
    const url = new URL(backend.url);
    const request = url.protocol === 'https:' ? httpsRequest : httpRequest;
    const upstream = request({
      host: url.hostname.replace(/^\[|\]$/g, ''),
      port: url.port,
      method: 'GET',
      path: originForm(this.req.url),
      headers: this.headers,
      agent: false,
      setHost: false,
      // The CA, SNI name and client certificate that requests to it use (upstream.tls).
      ...backend.tls,
    });
    this.upstream = upstream;
    let connected = false;
    const connectTimer = setTimeout(() => upstream.destroy(new ConnectionError('SLUICE_CONNECT_TIMEOUT', 'connect timeout')), timeouts.connectMs);
    let responseTimer: NodeJS.Timeout | undefined;
    upstream.once('socket', (socket: Socket) => {
      socket.once('connect', () => {
        connected = true;
        clearTimeout(connectTimer);
        responseTimer = setTimeout(() => upstream.destroy(new ConnectionError('SLUICE_RESPONSE_TIMEOUT', 'no response in time')), timeouts.responseMs);
      });
    });
    const settle = (): void => {
      clearTimeout(connectTimer);
      clearTimeout(responseTimer);
    };
    upstream.once('upgrade', (res: IncomingMessage, upSocket: Socket, upHead: Buffer) => {
      settle();
      this.answered();
      if (this.clientGone) {
        upSocket.destroy();
        release();
        return;
      }
      this.tunnels.pool.reportSuccess(backend);
      // Sticky sessions: the 101 pins the client as any response does (reconnects land on the same backend).
      const cookie = this.runtime.balancer.setCookie?.(backend, this.req);
      const headers = cookie === undefined ? res.rawHeaders : [...res.rawHeaders, 'Set-Cookie', cookie];
      this.client.write(statusHead(101, res.statusMessage ?? 'Switching Protocols', headers));
      if (upHead.length > 0) this.client.write(upHead);
      if (this.head.length > 0) upSocket.write(this.head);
      new Tunnel(this.tunnels, this.runtime, this.client, upSocket, release);
    });
    upstream.once('response', (res: IncomingMessage) => {
      // The backend refused the upgrade (e.g. 401, 426): the client gets its answer as it is.
      settle();
      this.answered();
      this.client.once('close', () => res.destroy());
      const headers = downstreamResponseHeaderList(res.headers);
      const flat: string[] = [];
      for (let i = 0; i < headers.length; i += 2) {
        const value = headers[i + 1];
        for (const v of Array.isArray(value) ? value : [value]) flat.push(headers[i] as string, v);
      }
      this.client.write(statusHead(res.statusCode ?? 502, res.statusMessage ?? '', flat, true));
      res.pipe(this.client);
      res.once('end', release);
      res.once('close', release);
    });
    upstream.once('error', (err: Error) => {
      settle();
      release();
      if (this.clientGone) return;
      const kind = classifyFailure(err);
      const reason = describeError(err, kind === 'timeout' ? timeouts.responseMs : undefined);
      const pool = this.tunnels.pool;
      if (kind === 'unreachable' && !connected) pool.reportConnectionFailure(backend, reason);
      else if (kind !== 'local') pool.reportRequestFailure(backend, reason);
      this.tunnels.log.debug({ backend: backend.url, error: reason }, 'upgrade failed');
      // Nothing was sent when the connect failed: try another backend.
      if (kind === 'unreachable' && !connected && this.tried.length < this.runtime.config.retries) {
        this.tried.push(backend);
        this.next();
        return;
      }
      this.client.end(kind === 'timeout'
        ? rawErrorResponse(504)
        : rawErrorResponse(kind === 'local' ? 503 : 502));
    });
    upstream.end();
  }
}

function statusHead(status: number, reason: string, rawHeaders: string[], close = false): string {
  let head = `HTTP/1.1 ${status} ${reason.replace(/[^\t\x20-\x7e]/g, '')}\r\n`;
  for (let i = 0; i < rawHeaders.length; i += 2) head += `${rawHeaders[i]}: ${rawHeaders[i + 1]}\r\n`;
  if (close) head += 'Connection: close\r\n';
  return head + '\r\n';
}

/** Two sockets joined: bytes both ways with backpressure, and every way for it to end bounded in time. */
class Tunnel {
  private readonly tunnels: UpgradeTunnels;
  private readonly client: Socket;
  private readonly upstream: Socket;
  private readonly release: () => void;
  private readonly halfCloseMs: number;
  private halfCloseTimer: NodeJS.Timeout | undefined;
  private closedSides = 0;
  private done = false;

  constructor(tunnels: UpgradeTunnels, runtime: Runtime, client: Socket, upstream: Socket, release: () => void) {
    this.tunnels = tunnels;
    this.client = client;
    this.upstream = upstream;
    this.release = release;
    this.halfCloseMs = runtime.config.timeouts.halfCloseMs;
    tunnels.opened(this);
    for (const [socket, other] of [[client, upstream], [upstream, client]] as const) {
      socket.setKeepAlive(true, 60_000);
      socket.setNoDelay(true);
      socket.on('error', () => this.finish());
      // pipe() passes a FIN on; the other side then gets halfClose to finish too.
      socket.once('end', () => this.startHalfClose());
      socket.once('close', () => {
        if (++this.closedSides === 2) this.finish();
        else {
          other.end();
          this.startHalfClose();
        }
      });
    }
    // Activity either way touches the client socket (reads from it, writes to it).
    client.setTimeout(runtime.config.timeouts.tunnelIdleMs);
    client.on('timeout', () => this.finish());
    upstream.setTimeout(0);
    client.pipe(upstream);
    upstream.pipe(client);
    if (tunnels.shuttingDown) this.goAway();
  }

  private startHalfClose(): void {
    if (this.done) return;
    this.halfCloseTimer ??= setTimeout(() => this.finish(), this.halfCloseMs);
  }

  /** Shutdown: a WebSocket close (1001, going away) to both sides, then both sockets end. */
  goAway(): void {
    if (this.done) return;
    this.client.unpipe(this.upstream);
    this.upstream.unpipe(this.client);
    if (this.client.writable) this.client.end(CLOSE_TO_CLIENT);
    if (this.upstream.writable) this.upstream.end(CLOSE_TO_BACKEND);
    this.startHalfClose();
  }

  private finish(): void {
    if (this.done) return;
    this.done = true;
    clearTimeout(this.halfCloseTimer);
    this.client.destroy();
    this.upstream.destroy();
    this.tunnels.closed(this);
    this.release();
  }
}
