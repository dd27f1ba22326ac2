// Forwards one client request: pick a backend, stream the request to it through its undici
// pool, stream the response back, retry on another backend when the first could not be reached.

import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import type { Dispatcher } from 'undici';
import type { Logger } from 'pino';
import type { Balancer } from '../balancer/balancer.ts';
import type { Backend } from '../pool/backend.ts';
import type { Pool } from '../pool/pool.ts';
import { describeError } from '../pool/connection-errors.ts';
import { downstreamResponseHeaderList, upstreamRequestHeaders } from './headers.ts';
import { classifyUpstreamError, sendError } from './upstream-errors.ts';

/** What the forwarder reads per request; the runtime swaps fields on reload. */
export interface ForwarderState {
  pool: Pool;
  balancer: Balancer;
  retries: number;
  responseTimeoutMs: number;
  accessLog: boolean;
  shuttingDown: boolean;
  log: Logger;
}

const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE', 'TRACE']);

export class Forwarder {
  readonly state: ForwarderState;

  constructor(state: ForwarderState) {
    this.state = state;
  }

  handle = (req: IncomingMessage, res: ServerResponse): void => {
    const headers = upstreamRequestHeaders(req, 'http');
    const hasBody = req.headers['transfer-encoding'] !== undefined
      || (req.headers['content-length'] !== undefined && req.headers['content-length'] !== '0');
    if (this.state.shuttingDown) res.shouldKeepAlive = false;
    const exchange = new Exchange(this, req, res, headers, hasBody);
    exchange.attempt();
  };
}

const EXCHANGE = Symbol('sluice.exchange');

/** The response's exchange rides on the response, so one shared listener serves every request. */
type TrackedResponse = ServerResponse & { [EXCHANGE]?: Exchange };

function onResponseClose(this: TrackedResponse): void {
  this[EXCHANGE]?.clientClosed();
}

/** One client request and its upstream attempts. Implements undici's dispatch handler. */
class Exchange implements Dispatcher.DispatchHandler {
  private readonly forwarder: Forwarder;
  private readonly req: IncomingMessage;
  private readonly res: ServerResponse;
  private readonly headers: string[];
  private readonly hasBody: boolean;
  private readonly started = performance.now();
  private tried: Backend[] | undefined;
  private backend: Backend | undefined;
  private controller: Dispatcher.DispatchController | undefined;
  /** The current attempt reached a socket (undici called onRequestStart). */
  private sent = false;
  private responded = false;
  private clientGone = false;
  private released = true;
  /** Created on the first backpressure stall only; most responses never need it. */
  private resumeOnDrain: (() => void) | undefined;

  constructor(forwarder: Forwarder, req: IncomingMessage, res: ServerResponse, headers: string[], hasBody: boolean) {
    this.forwarder = forwarder;
    this.req = req;
    this.res = res;
    this.headers = headers;
    this.hasBody = hasBody;
    (res as TrackedResponse)[EXCHANGE] = this;
    res.on('close', onResponseClose);
  }

  attempt(): void {
    const { pool, balancer } = this.forwarder.state;
    const backend = balancer.pick(pool.candidates, this.tried);
    if (backend === undefined) {
      // Every backend this request tried failed: that is the backends' failure (502), not "none up".
      if (this.tried === undefined) this.fail(503, 'no healthy backend');
      else this.fail(502, 'no healthy backend left to retry');
      return;
    }
    this.backend = backend;
    this.sent = false;
    this.released = false;
    backend.acquire();
    backend.dispatcher.dispatch({
      origin: backend.url,
      method: this.req.method ?? 'GET',
      path: originForm(this.req.url),
      headers: this.headers,
      body: this.hasBody ? this.req : null,
      headersTimeout: this.forwarder.state.responseTimeoutMs,
    }, this);
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.controller = controller;
    this.sent = true;
    if (this.clientGone) controller.abort(new ClientGoneError());
  }

  onResponseStart(controller: Dispatcher.DispatchController, statusCode: number, headers: IncomingHttpHeaders, statusMessage?: string): void {
    this.responded = true;
    const res = this.res;
    if (res.destroyed) {
      controller.abort(new ClientGoneError());
      return;
    }
    res.writeHead(statusCode, statusMessage, downstreamResponseHeaderList(headers));
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    if (!this.res.write(chunk)) {
      controller.pause();
      this.res.once('drain', this.resumeOnDrain ??= () => this.controller?.resume());
    }
  }

  onResponseEnd(): void {
    this.release();
    this.res.end();
    if (this.forwarder.state.accessLog) this.logAccess(this.res.statusCode);
  }

  onResponseError(_controller: Dispatcher.DispatchController, err: Error): void {
    const backend = this.backend;
    this.release();
    if (this.clientGone || err instanceof ClientGoneError || backend === undefined) {
      // 499, as nginx logs it: the client closed the connection before the response was done.
      if (this.forwarder.state.accessLog) this.logAccess(499, 'client disconnected');
      return;
    }
    const { pool, retries } = this.forwarder.state;
    const kind = classifyUpstreamError(err);
    const reason = describeError(err, this.forwarder.state.responseTimeoutMs);
    if (kind === 'rejected') {
      this.fail(400, reason);
      return;
    }
    if (kind === 'unreachable') pool.reportConnectionFailure(backend, reason);
    else pool.reportRequestFailure(backend, reason);

    if (this.responded) {
      // Headers are out: the only honest signal left is to cut the response short.
      this.res.destroy(err);
      if (this.forwarder.state.accessLog) this.logAccess(this.res.statusCode, reason);
      return;
    }
    if (this.canRetry(kind)) {
      (this.tried ??= []).push(backend);
      if (this.tried.length <= retries) {
        this.attempt();
        return;
      }
    }
    if (kind === 'timeout') this.fail(504, reason);
    else this.fail(502, reason);
  }

  private canRetry(kind: ReturnType<typeof classifyUpstreamError>): boolean {
    if (kind !== 'unreachable') return false;
    // Nothing of the body may have been consumed by the failed attempt.
    if (this.hasBody && (this.req.readableDidRead || this.req.destroyed)) return false;
    // Never sent: always safe. Sent but the connection died before any response: idempotent only.
    return !this.sent || (!this.hasBody && IDEMPOTENT.has(this.req.method ?? 'GET'));
  }

  private fail(status: 400 | 502 | 503 | 504, reason: string): void {
    sendError(this.res, status);
    if (this.forwarder.state.accessLog) this.logAccess(status, reason);
  }

  private release(): void {
    if (this.released) return;
    this.released = true;
    this.backend?.release();
  }

  /** The client connection closed: after a complete response that is normal, before it an abort. */
  clientClosed(): void {
    if (this.res.writableFinished) return;
    this.clientGone = true;
    if (this.controller !== undefined && !this.released) this.controller.abort(new ClientGoneError());
  }

  private logAccess(status: number, error?: string): void {
    const req = this.req;
    this.forwarder.state.log.info({
      method: req.method,
      path: req.url,
      status,
      backend: this.backend?.url,
      attempts: (this.tried?.length ?? 0) + 1,
      durationMs: Math.round((performance.now() - this.started) * 10) / 10,
      remote: req.socket.remoteAddress,
      requestId: req.headers['x-request-id'] ?? headerValue(this.headers, 'x-request-id'),
      error,
    }, 'access');
  }
}

/** Backends get origin-form targets ("/path?q"); an absolute-form one ("http://h/p") is reduced to it. */
function originForm(url: string | undefined): string {
  if (url === undefined || url === '') return '/';
  if (url.charCodeAt(0) === 47 /* '/' */) return url;
  try {
    const parsed = new URL(url);
    return parsed.pathname + parsed.search;
  } catch {
    return url; // undici refuses it; the client gets a 400
  }
}

class ClientGoneError extends Error {
  readonly code = 'SLUICE_CLIENT_GONE';
  constructor() {
    super('client disconnected');
  }
}

function headerValue(flat: string[], name: string): string | undefined {
  for (let i = flat.length - 2; i >= 0; i -= 2) if (flat[i] === name) return flat[i + 1];
  return undefined;
}
