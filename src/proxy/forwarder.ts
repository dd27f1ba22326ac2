// Forwards one client request: pick a backend, stream the request to it through its undici
// pool, stream the response back, retry on another backend when that is safe and in budget.

import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { Readable } from 'node:stream';
import type { Dispatcher } from 'undici';
import type { Logger } from 'pino';
import type { Backend } from '../pool/backend.ts';
import type { Pool } from '../pool/pool.ts';
import { classifyFailure, ConnectionError, describeError, type FailureKind } from '../pool/connection-errors.ts';
import type { Runtime, RuntimeRef } from '../runtime.ts';
import { requestDone, trackRequest } from './client-connections.ts';
import type { CompletedExchange, ExchangeObserver } from '../observers/exchange.ts';
import { downstreamResponseHeaderList, requestHasBody, schemeOf, upstreamRequestHeaders } from './headers.ts';
import { sendError, type ErrorStatus } from './upstream-errors.ts';

const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE', 'TRACE']);
/** A reason phrase may hold tabs, spaces and visible characters only (RFC 9112 §4). */
const INVALID_REASON = /[^\t\x20-\x7e\x80-\xff]/;

export class Forwarder {
  readonly pool: Pool;
  readonly runtime: RuntimeRef;
  readonly log: Logger;
  /** From the shutdown signal on: every response closes its connection. */
  shuttingDown = false;
  /** Retries after a request was sent, in progress now (the retry budget's numerator). */
  retriesInFlight = 0;
  /** Retries so far: after a failed connect, after a request reached a backend and failed, and of calls a backend did not process. */
  readonly retries = { connect: 0, afterSend: 0, unprocessed: 0 };
  /** Told about every exchange when it ends (access log, metrics). */
  observers: ExchangeObserver[] = [];

  constructor(pool: Pool, runtime: RuntimeRef, log: Logger) {
    this.pool = pool;
    this.runtime = runtime;
    this.log = log;
  }

  handle = (req: IncomingMessage, res: ServerResponse): void => {
    const runtime = this.runtime.current;
    const headers = upstreamRequestHeaders(req, { proto: schemeOf(req), trusted: runtime.isTrustedProxy(req.socket.remoteAddress) });
    const hasBody = requestHasBody(req);
    if (this.shuttingDown) res.shouldKeepAlive = false;
    trackRequest(req.socket);
    const exchange = new Exchange(this, runtime, req, res, headers, hasBody);
    exchange.attempt();
  };

  /** The retry budget (Envoy's): retries after send may be `percent` of requests in flight, at least `minConcurrent`. */
  mayRetryAfterSend(runtime: Runtime): boolean {
    const { percent, minConcurrent } = runtime.config.retryBudget;
    return this.retriesInFlight < Math.max(minConcurrent, (this.pool.inflight * percent) / 100);
  }
}

/** The readable a request's body arrives on: HTTP/1.1's request itself, HTTP/2's stream (the adapter's `bodyStream`). */
function bodyOf(req: IncomingMessage): Readable {
  return (req as IncomingMessage & { bodyStream?: Readable }).bodyStream ?? req;
}

const EXCHANGE = Symbol('sluice.exchange');

/** The response's exchange rides on the response, so one shared listener serves every request. */
type TrackedResponse = ServerResponse & { [EXCHANGE]?: Exchange };

function onResponseClose(this: TrackedResponse): void {
  this[EXCHANGE]?.clientClosed();
}

/** One client request and its upstream attempts. Implements undici's dispatch handler. */
class Exchange implements Dispatcher.DispatchHandler, CompletedExchange {
  private readonly forwarder: Forwarder;
  private readonly runtime: Runtime;
  private readonly req: IncomingMessage;
  /** Where the request body arrives (see bodyOf). */
  private readonly body: Readable;
  private readonly res: ServerResponse;
  /** The client connection, kept: Node detaches it from `req` once the request body is complete. */
  private readonly socket: Socket;
  private readonly headers: string[];
  private readonly hasBody: boolean;
  private readonly started = performance.now();
  private readonly bytesReadAtStart: number;
  private readonly bytesWrittenAtStart: number;
  private tried: Backend[] | undefined;
  backend: Backend | undefined;
  status = 0;
  error: string | undefined;
  upstreamMs: number | undefined;
  totalMs = 0;
  bytesIn = 0;
  bytesOut = 0;
  private ended = false;
  private controller: Dispatcher.DispatchController | undefined;
  /** The current attempt reached a socket (undici called onRequestStart). */
  private sent = false;
  private responded = false;
  private clientGone = false;
  private released = true;
  /** A gRPC call's own deadline (grpc-timeout), when it sent one. */
  private deadline: NodeJS.Timeout | undefined;
  private retriesAfterSend = 0;
  /** This attempt is a retry after send and holds a place in the retry budget. */
  private inBudget = false;
  /** Created on the first backpressure stall only; most responses never need it. */
  private resumeOnDrain: (() => void) | undefined;
  /** The body as HTTP/2 backends read it, kept for a call one of them does not process; HTTP/1.1 backends read `req` itself. */
  private replay: ReplayableBody | undefined;

  constructor(forwarder: Forwarder, runtime: Runtime, req: IncomingMessage, res: ServerResponse, headers: string[], hasBody: boolean) {
    this.forwarder = forwarder;
    this.runtime = runtime;
    this.req = req;
    this.body = bodyOf(req);
    this.res = res;
    this.socket = req.socket;
    this.bytesReadAtStart = req.socket.bytesRead;
    this.bytesWrittenAtStart = req.socket.bytesWritten;
    this.headers = headers;
    this.hasBody = hasBody;
    // An upload that stops moving is cut after timeouts.idle; while waiting for the response
    // head, timeouts.response applies instead.
    if (hasBody) {
      this.socket.setTimeout(runtime.config.timeouts.idleMs);
      this.body.once('end', () => {
        if (!this.socket.destroyed) this.socket.setTimeout(0);
      });
    }
    (res as TrackedResponse)[EXCHANGE] = this;
    res.on('close', onResponseClose);
    const grpcTimeout = req.headers['grpc-timeout'];
    if (typeof grpcTimeout === 'string') {
      const ms = grpcTimeoutMs(grpcTimeout);
      if (ms !== undefined) this.deadline = setTimeout(() => this.deadlinePassed(), ms);
    }
  }

  /**
   * The caller's deadline passed: the call ends now with DEADLINE_EXCEEDED (504 → grpc-status 4),
   * and the backend is not blamed: the deadline was the caller's choice, not its failure.
   */
  private deadlinePassed(): void {
    this.deadline = undefined;
    if (this.ended) return;
    if (this.controller !== undefined && !this.released) {
      this.controller.abort(new DeadlineError());
      return;
    }
    // Between attempts, or still connecting: answer now; whatever comes later is dropped.
    this.clientGone = true;
    this.release();
    this.fail(504, 'grpc-timeout passed');
  }

  attempt(): void {
    const backend = this.pickWithCapacity();
    if (backend === undefined) return;
    this.backend = backend;
    this.sent = false;
    this.released = false;
    backend.acquire();
    if (this.hasBody && this.replay === undefined && backend.protocol !== 'http1' && !this.body.readableDidRead) {
      // Only HTTP/2 says "not processed, send it elsewhere" (GOAWAY, REFUSED_STREAM); a body that
      // went to one such backend is replayed from then on, whatever the next one speaks.
      this.replay = new ReplayableBody(this.body);
      // A small body that came with its head (a gRPC unary call) goes as one Buffer: no stream
      // pipeline per request in undici. Waiting for it lasts until the bytes already read are handled.
      this.replay.prefetch(() => this.dispatchAfterPrefetch());
      return;
    }
    this.dispatch(backend);
  }

  private dispatchAfterPrefetch(): void {
    // The client left, or its deadline passed, while the body was read: nothing goes out.
    if (this.clientGone || this.ended) {
      this.release();
      return;
    }
    this.dispatch(this.backend!);
  }

  private dispatch(backend: Backend): void {
    let body: Readable | Iterable<Buffer> | null = null;
    if (this.hasBody) body = this.replay !== undefined ? this.replay.attemptBody() : this.body === this.req ? this.req : new BorrowedBody(this.body);
    backend.dispatcher.dispatch({
      origin: backend.url,
      method: this.req.method ?? 'GET',
      path: originForm(this.req.url),
      headers: this.headers,
      // undici writes an iterable body too; its typings leave iterables out.
      body: body as Readable | null,
      headersTimeout: this.runtime.config.timeouts.responseMs,
    }, this);
  }

  /** A candidate with room in its connection pool and queue; answers the client itself when there is none. */
  private pickWithCapacity(): Backend | undefined {
    const { pool } = this.forwarder;
    const full = this.runtime.backendCapacity;
    let skipped: Backend[] | undefined;
    for (;;) {
      const exclude = skipped === undefined ? this.tried : [...(this.tried ?? []), ...skipped];
      const backend = this.runtime.balancer.pick(pool.candidates, exclude, this.req);
      if (backend === undefined) break;
      if (backend.inflight < full) return backend;
      (skipped ??= []).push(backend);
    }
    if (skipped !== undefined) this.fail(503, 'every backend is at its connection and queue limit', true);
    // Every backend this request tried failed: that is the backends' failure (502), not "none up".
    else if (this.tried === undefined) this.fail(503, 'no healthy backend');
    else this.fail(502, 'no healthy backend left to retry');
    return undefined;
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.controller = controller;
    this.sent = true;
    if (this.clientGone) controller.abort(new ClientGoneError());
  }

  onResponseStart(controller: Dispatcher.DispatchController, statusCode: number, headers: IncomingHttpHeaders, statusMessage?: string): void {
    const res = this.res;
    if (res.destroyed) {
      controller.abort(new ClientGoneError());
      return;
    }
    if (statusCode < 100 || statusCode > 599 || (statusMessage !== undefined && INVALID_REASON.test(statusMessage))) {
      controller.abort(new ConnectionError('SLUICE_BAD_RESPONSE', `invalid status line (status ${statusCode})`));
      return;
    }
    if (statusCode < 200) {
      this.relayInformational(statusCode, headers);
      return;
    }
    this.responded = true;
    // No retry once an answer has begun: the kept body is no longer needed.
    this.replay?.stopKeeping();
    this.upstreamMs = performance.now() - this.started;
    if (this.forwarder.shuttingDown) res.shouldKeepAlive = false;
    const list = downstreamResponseHeaderList(headers);
    // The client learns the id its request is logged under (unless the backend set its own).
    if (headers['x-request-id'] === undefined) list.push('x-request-id', this.requestId ?? '');
    // Sticky sessions: the cookie that pins the client to the backend that answered.
    const cookie = this.backend === undefined ? undefined : this.runtime.balancer.setCookie?.(this.backend, this.req);
    if (cookie !== undefined) list.push('set-cookie', cookie);
    // HTTP/1.1 answers with a length carry no trailers: an HTTP/2 client's stream need not wait for any.
    if (this.req.httpVersionMajor === 2 && this.backend?.protocol === 'http1' && headers['content-length'] !== undefined) (res as ServerResponse & { trailersPossible: boolean }).trailersPossible = false;
    res.writeHead(statusCode, statusMessage, list);
    // From here on a stalled backend or a client that stopped reading is cut after timeouts.idle.
    if (!this.socket.destroyed) this.socket.setTimeout(this.runtime.config.timeouts.idleMs);
  }

  /** 102 and 103 go on to HTTP/1.1 clients; HTTP/1.0 clients cannot take them and never see them. */
  private relayInformational(statusCode: number, headers: IncomingHttpHeaders): void {
    if (this.req.httpVersionMinor === 0 && this.req.httpVersionMajor === 1) return;
    if (statusCode === 102) this.res.writeProcessing();
    else if (statusCode === 103 && headers.link !== undefined) this.res.writeEarlyHints({ link: headers.link });
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    if (!this.res.write(chunk)) {
      controller.pause();
      this.res.once('drain', this.resumeOnDrain ??= () => this.controller?.resume());
    }
  }

  onResponseEnd(_controller: Dispatcher.DispatchController, trailers: IncomingHttpHeaders): void {
    if (this.backend !== undefined) this.forwarder.pool.reportSuccess(this.backend);
    this.release();
    // gRPC's status travels in trailers (HTTP/2, or chunked HTTP/1.1; Node drops them otherwise).
    for (const _ in trailers) {
      this.res.addTrailers(trailers);
      break;
    }
    this.res.end();
    this.end(this.res.statusCode);
  }

  onResponseError(_controller: Dispatcher.DispatchController, err: Error): void {
    const backend = this.backend;
    this.release();
    if (err instanceof DeadlineError) {
      this.fail(504, 'grpc-timeout passed');
      this.clientGone = true;
      return;
    }
    if (this.clientGone || err instanceof ClientGoneError || backend === undefined) {
      // 499, as nginx logs it: the client closed the connection before the response was done.
      this.end(499, 'client disconnected');
      return;
    }
    const { pool } = this.forwarder;
    const kind = classifyFailure(err);
    const reason = describeError(err, this.runtime.config.timeouts.responseMs);
    if (kind === 'rejected') {
      this.fail(400, reason);
      return;
    }
    if (kind === 'local') {
      // sluice is out of descriptors or ports: no backend is to blame, and another try would fail the same way.
      this.forwarder.log.warn({ backend: backend.url, error: reason }, 'request failed for a local reason');
      this.fail(503, reason, true);
      return;
    }
    if (kind === 'unreachable') pool.reportConnectionFailure(backend, reason);
    // A backend that says it did not process a call (draining: GOAWAY; REFUSED_STREAM) did its
    // part: it is neither blamed nor credited, and the call goes elsewhere.
    else if (kind !== 'unprocessed') pool.reportRequestFailure(backend, reason);

    if (this.responded) {
      // Headers are out: the response is cut short (a gRPC call over HTTP/2 ends with a status).
      sendError(this.res, kind === 'timeout' ? 504 : 502);
      this.end(this.res.statusCode, reason);
      return;
    }
    if (this.mayRetry(kind)) {
      (this.tried ??= []).push(backend);
      this.forwarder.retries[kind === 'unprocessed' ? 'unprocessed' : this.sent ? 'afterSend' : 'connect']++;
      this.attempt();
      return;
    }
    if (kind === 'timeout') this.fail(504, reason);
    else this.fail(502, reason);
  }

  /**
   * Never sent (no connection), or sent and not processed (HTTP/2 GOAWAY, REFUSED_STREAM): safe to
   * retry elsewhere whatever the method, up to `retries`, as Envoy does; outside the retry budget,
   * which bounds the work a request may cause, and a backend that did not process it did none.
   * Sent and then failed: only an idempotent request without a body, at most
   * retryBudget.afterSend times and within the process-wide budget, so a request that kills
   * backends cannot visit them all.
   */
  private mayRetry(kind: FailureKind): boolean {
    if ((this.tried?.length ?? 0) >= this.runtime.config.retries) return false;
    if (!this.bodyWhole) return false;
    if ((kind === 'unreachable' && !this.sent) || kind === 'unprocessed') return true;
    if (kind === 'timeout' || this.hasBody || !IDEMPOTENT.has(this.req.method ?? 'GET')) return false;
    if (this.retriesAfterSend >= this.runtime.config.retryBudget.afterSend) return false;
    if (!this.inBudget && !this.forwarder.mayRetryAfterSend(this.runtime)) return false;
    this.retriesAfterSend++;
    if (!this.inBudget) {
      this.inBudget = true;
      this.forwarder.retriesInFlight++;
    }
    return true;
  }

  /** The next attempt can have the whole body: none of it read yet, or all that was read kept. */
  private get bodyWhole(): boolean {
    if (!this.hasBody) return true;
    if (this.replay !== undefined) return this.replay.whole;
    return !this.body.readableDidRead && !this.body.destroyed;
  }

  private fail(status: ErrorStatus, reason: string, retryAfter = false): void {
    this.leaveBudget();
    sendError(this.res, status, retryAfter);
    this.end(status, reason);
  }

  private release(): void {
    if (this.released) return;
    this.released = true;
    this.backend?.release();
  }

  private leaveBudget(): void {
    if (!this.inBudget) return;
    this.inBudget = false;
    this.forwarder.retriesInFlight--;
  }

  /** The client connection closed: after a complete response that is normal, before it an abort. */
  clientClosed(): void {
    requestDone(this.socket);
    this.leaveBudget();
    if (this.res.writableFinished) return;
    this.clientGone = true;
    if (this.controller !== undefined && !this.released) this.controller.abort(new ClientGoneError());
    // Left before anything was dispatched or while the backend had not answered: still one exchange.
    else this.end(499, 'client disconnected');
  }

  /** The exchange is over, whichever way: observers hear of it exactly once. */
  private end(status: number, error?: string): void {
    if (this.ended) return;
    this.ended = true;
    if (this.deadline !== undefined) clearTimeout(this.deadline);
    this.status = status;
    this.error = error;
    const observers = this.forwarder.observers;
    if (observers.length === 0) return;
    this.totalMs = performance.now() - this.started;
    this.bytesIn = this.socket.bytesRead - this.bytesReadAtStart;
    this.bytesOut = this.socket.bytesWritten - this.bytesWrittenAtStart;
    for (const observer of observers) observer.exchangeEnded(this);
  }

  get method(): string {
    return this.req.method ?? 'GET';
  }

  get target(): string {
    return this.req.url ?? '/';
  }

  get host(): string | undefined {
    return this.req.headers.host;
  }

  get userAgent(): string | undefined {
    return this.req.headers['user-agent'];
  }

  get protocol(): string {
    return `HTTP/${this.req.httpVersion}`;
  }

  get remoteAddress(): string | undefined {
    return this.socket.remoteAddress;
  }

  get requestId(): string | undefined {
    return this.req.headers['x-request-id'] as string | undefined ?? headerValue(this.headers, 'x-request-id');
  }

  get attempts(): number {
    return (this.tried?.length ?? 0) + (this.backend !== undefined && !this.tried?.includes(this.backend) ? 1 : 0);
  }
}

/** Body bytes kept per request for an HTTP/2 backend that does not process it (Envoy keeps up to its buffer limit too). */
const REPLAY_LIMIT = 256 * 1024;

/**
 * A request body read through attempts: each attempt's stream gives the chunks earlier attempts
 * read (kept up to REPLAY_LIMIT, until an answer begins), then reads on from the client, with
 * backpressure. undici destroys a failed attempt's body; the client's request stays as it was.
 */
class ReplayableBody {
  private readonly source: Readable;
  /** undefined: more than REPLAY_LIMIT was read, or no retry can come any more. */
  private kept: Buffer[] | undefined = [];
  private keptBytes = 0;
  private ended = false;
  private broken = false;
  private listening = false;
  /** The attempt the client's bytes flow to now. */
  private live: AttemptBody | undefined;
  /** Reading ahead of the first attempt (prefetch): what to call when done. */
  private prefetching: (() => void) | undefined;
  private immediate: NodeJS.Immediate | undefined;

  constructor(source: Readable) {
    this.source = source;
  }

  /** Every byte read so far is kept, and the client's body is not broken: another attempt gets all of it. */
  get whole(): boolean {
    return this.kept !== undefined && !this.broken;
  }

  /**
   * The whole body when it has all arrived and is kept; else a stream of it. Its chunks as an array,
   * not one Buffer: undici would replay a Buffer itself after GOAWAY or REFUSED_STREAM, on the same
   * backend, where the exchange sends a call that was not processed to another one.
   */
  attemptBody(): Readable | Iterable<Buffer> {
    if (this.ended && this.kept !== undefined && !this.broken) return this.kept;
    return new AttemptBody(this);
  }

  /**
   * Reads what the client has sent so far, then calls `then`: once the body has ended, or once the
   * bytes that arrived with the request head are handled (setImmediate), or at REPLAY_LIMIT.
   */
  prefetch(then: () => void): void {
    this.prefetching = then;
    this.immediate = setImmediate(this.prefetched);
    this.listen();
  }

  private readonly prefetched = (): void => {
    const then = this.prefetching;
    if (then === undefined) return;
    this.prefetching = undefined;
    if (this.immediate !== undefined) clearImmediate(this.immediate);
    this.immediate = undefined;
    // Paused until the first attempt reads on (its stream replays what was read here).
    if (!this.ended) this.source.pause();
    then();
  };

  private listen(): void {
    if (this.listening) return;
    this.listening = true;
    this.source.on('data', (chunk: Buffer) => this.onData(chunk));
    this.source.once('end', () => this.onEnd());
    this.source.once('error', () => this.onBroken());
    this.source.once('close', () => this.onBroken());
  }

  stopKeeping(): void {
    this.kept = undefined;
  }

  /** An attempt wants more: replay what it has not had, then read on from the client. */
  read(attempt: AttemptBody): void {
    if (attempt !== this.live) {
      const kept = this.kept ?? [];
      while (attempt.replayed < kept.length) {
        if (!attempt.push(kept[attempt.replayed++])) return;
      }
      if (this.ended) {
        attempt.push(null);
        return;
      }
      if (this.broken) {
        attempt.destroy();
        return;
      }
      this.live = attempt;
    }
    this.listen();
    this.source.resume();
  }

  /** A failed attempt lets go: the client's bytes wait (paused) for the next one. */
  detach(attempt: AttemptBody): void {
    if (this.live !== attempt) return;
    this.live = undefined;
    if (!this.ended) this.source.pause();
  }

  private onData(chunk: Buffer): void {
    if (this.prefetching !== undefined) {
      // Nobody else has these bytes yet: kept whatever their size; past the limit it streams.
      this.kept!.push(chunk);
      this.keptBytes += chunk.length;
      if (this.keptBytes > REPLAY_LIMIT) this.prefetched();
      return;
    }
    if (this.kept !== undefined) {
      this.keptBytes += chunk.length;
      if (this.keptBytes > REPLAY_LIMIT) this.kept = undefined;
      else this.kept.push(chunk);
    }
    // Between attempts the client's body is paused; a chunk that comes anyway waits in `kept`,
    // and when nothing is kept any more the body is no longer whole.
    if (this.live === undefined) {
      this.source.pause();
      if (this.kept === undefined) this.broken = true;
      return;
    }
    if (!this.live.push(chunk)) this.source.pause();
  }

  private onEnd(): void {
    this.ended = true;
    if (this.prefetching !== undefined) this.prefetched();
    else this.live?.push(null);
  }

  private onBroken(): void {
    if (this.ended || this.broken) return;
    this.broken = true;
    if (this.prefetching !== undefined) this.prefetched();
    // Without an error: undici sees the body end early and aborts the attempt.
    this.live?.destroy();
  }
}

class AttemptBody extends Readable {
  private readonly body: ReplayableBody;
  /** Kept chunks this attempt has been given. */
  replayed = 0;

  constructor(body: ReplayableBody) {
    super();
    this.body = body;
    // undici destroys a failed attempt's body with the error after it stopped listening.
    this.on('error', ignore);
  }

  override _read(): void {
    this.body.read(this);
  }

  override _destroy(err: Error | null, callback: (err?: Error | null) => void): void {
    this.body.detach(this);
    callback(err);
  }
}

/**
 * undici destroys a stream body once it is done with it. An IncomingMessage survives that (undici
 * detaches its socket first); an HTTP/2 client's stream would not: it is also the response. So
 * undici gets this stand-in, which reads its source only once undici reads (a request that never
 * reached a backend leaves the client's body untouched for the next attempt). A client that resets
 * its stream mid-body needs nothing here: the response closes, and the exchange aborts the attempt.
 */
class BorrowedBody extends Readable {
  private readonly source: Readable;
  private listening = false;

  constructor(source: Readable) {
    super();
    this.source = source;
  }

  private readonly onData = (chunk: Buffer): void => {
    if (!this.push(chunk)) this.source.pause();
  };

  private readonly onEnd = (): void => {
    this.push(null);
  };

  override _read(): void {
    if (!this.listening) {
      this.listening = true;
      this.source.on('data', this.onData);
      this.source.once('end', this.onEnd);
    }
    this.source.resume();
  }

  override _destroy(err: Error | null, callback: (err?: Error | null) => void): void {
    this.source.off('data', this.onData);
    this.source.off('end', this.onEnd);
    callback(err);
  }
}

/** Backends get origin-form targets ("/path?q"); an absolute-form one ("http://h/p") is reduced to it. */
export function originForm(url: string | undefined): string {
  if (url === undefined || url === '') return '/';
  if (url.charCodeAt(0) === 47 /* '/' */) return url;
  try {
    const parsed = new URL(url);
    return parsed.pathname + parsed.search;
  } catch {
    return url; // undici refuses it; the client gets a 400
  }
}

/** The gRPC caller's deadline (grpc-timeout) passed. */
class DeadlineError extends Error {
  readonly code = 'SLUICE_DEADLINE';
  constructor() {
    super('grpc-timeout passed');
  }
}

const GRPC_TIMEOUT_UNIT_MS: Record<string, number> = { H: 3_600_000, M: 60_000, S: 1000, m: 1, u: 0.001, n: 0.000001 };

/** "300m" → 300 (ms): gRPC's TimeoutValue (at most 8 digits) and unit; undefined when malformed. */
export function grpcTimeoutMs(value: string): number | undefined {
  const match = /^(\d{1,8})([HMSmun])$/.exec(value);
  if (match === null) return undefined;
  return Math.max(1, Math.ceil(Number(match[1]) * GRPC_TIMEOUT_UNIT_MS[match[2]]));
}

class ClientGoneError extends Error {
  readonly code = 'SLUICE_CLIENT_GONE';
  constructor() {
    super('client disconnected');
  }
}

function ignore(): void {}

function headerValue(flat: string[], name: string): string | undefined {
  for (let i = flat.length - 2; i >= 0; i -= 2) if (flat[i] === name) return flat[i + 1];
  return undefined;
}
