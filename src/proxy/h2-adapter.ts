// HTTP/2 at the edge: client streams become the request/response pair the Forwarder already
// serves, so an HTTP/2 request gets the same exchange as an HTTP/1.1 one (balancing, retries,
// timeouts, header policy, observers). What differs lives here: per-stream timeouts and byte
// counts, no status message, GOAWAY instead of "Connection: close", streams per session.
//
// Served on Node's core stream API ('stream' events), not its compat layer, which wraps every
// stream in two more stream objects with a dozen listeners (a hello server: 204k vs 132k
// instructions per request under callgrind). sluice had bypassed most of it already, so here it
// measured 381k -> 376k. The request's body is the stream itself.

import { EventEmitter } from 'node:events';
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import {
  constants, createServer,
  type Http2Server, type Http2Session, type OutgoingHttpHeaders, type ServerHttp2Stream,
} from 'node:http2';
import type { Socket } from 'node:net';
import { Duplex, type Readable } from 'node:stream';
import type { RuntimeRef } from '../runtime.ts';

const { NGHTTP2_CANCEL } = constants;

/**
 * What the exchange asks of "the client connection", per stream: HTTP/2's real socket is shared
 * by every stream of the session, so its timeout, byte counts and destruction are not one
 * request's.
 */
class StreamSocket {
  private readonly stream: ServerHttp2Stream;
  private readonly session: Socket;
  bytesRead = 0;
  bytesWritten = 0;
  private timeoutArmed = false;

  constructor(stream: ServerHttp2Stream, session: Socket) {
    this.stream = stream;
    this.session = session;
  }

  get remoteAddress(): string | undefined {
    return this.session.remoteAddress;
  }

  get encrypted(): boolean {
    return (this.session as Socket & { encrypted?: boolean }).encrypted === true;
  }

  get destroyed(): boolean {
    return this.stream.destroyed;
  }

  /** timeouts.idle for this stream alone: a stream that stops moving is cancelled, the session lives on. */
  setTimeout(ms: number): this {
    if (this.stream.destroyed) return this;
    if (!this.timeoutArmed && ms > 0) {
      this.timeoutArmed = true;
      this.stream.on('timeout', cancelStream);
    }
    this.stream.setTimeout(ms);
    return this;
  }
}

function cancelStream(this: ServerHttp2Stream): void {
  this.close(NGHTTP2_CANCEL);
}

const SOCKET = Symbol('sluice.streamSocket');
const RESPONSE = Symbol('sluice.response');

// `headRequest` (the request was HEAD: Node ended the stream with its head) is missing from the typings.
type TrackedStream = ServerHttp2Stream & { [SOCKET]: StreamSocket; [RESPONSE]: H2Response; readonly headRequest: boolean };

/** Body bytes are counted as the stream takes them in, without touching its flow. */
function countingPush(this: TrackedStream, chunk: unknown, encoding?: BufferEncoding): boolean {
  if (chunk !== null && chunk !== undefined) this[SOCKET].bytesRead += (chunk as Buffer).length;
  return Duplex.prototype.push.call(this, chunk, encoding);
}

/** The request as the exchange reads it: IncomingMessage's fields, with the stream as its body. */
export class H2Request {
  readonly stream: ServerHttp2Stream;
  readonly headers: IncomingHttpHeaders;
  readonly rawHeaders: string[];
  readonly method: string;
  readonly url: string;
  readonly socket: StreamSocket;
  readonly httpVersion = '2.0';
  readonly httpVersionMajor = 2;
  readonly httpVersionMinor = 0;

  constructor(stream: TrackedStream, headers: IncomingHttpHeaders, rawHeaders: string[]) {
    this.stream = stream;
    this.headers = headers;
    this.rawHeaders = rawHeaders;
    this.method = headers[':method'] as string;
    this.url = headers[':path'] as string;
    this.socket = new StreamSocket(stream, stream.session?.socket as Socket);
    stream[SOCKET] = this.socket;
    if (!stream.endAfterHeaders) stream.push = countingPush;
  }

  /** The readable side of the stream carries the request body. */
  get bodyStream(): Readable {
    return this.stream;
  }
}

/** The response as the exchange writes it: ServerResponse's calls, straight onto the stream. */
export class H2Response extends EventEmitter {
  readonly stream: TrackedStream;
  readonly req: H2Request;
  statusCode = 200;
  /** HTTP/1.1's keep-alive switch; HTTP/2 ends connections with GOAWAY instead. */
  shouldKeepAlive = true;
  /**
   * Cleared by the exchange for an answer that cannot have trailers (HTTP/1.1 with a length): its
   * stream then ends with its last DATA frame instead of waiting for trailers.
   */
  trailersPossible = true;
  private trailers: OutgoingHttpHeaders | undefined;
  private ending = false;
  private drainRelayed = false;

  constructor(stream: TrackedStream, req: H2Request) {
    super();
    this.stream = stream;
    this.req = req;
    stream[RESPONSE] = this;
    stream.once('close', relayClose);
  }

  get headersSent(): boolean {
    return this.stream.headersSent;
  }

  get destroyed(): boolean {
    return this.stream.destroyed;
  }

  get writableEnded(): boolean {
    return this.ending;
  }

  get writableFinished(): boolean {
    return this.stream.writableFinished;
  }

  /**
   * (status, reason, flat list) from the exchange, (status, object) from sluice's own answers.
   * HTTP/2 has no reason phrase: it is dropped.
   */
  writeHead(statusCode: number, statusMessage?: string | OutgoingHttpHeaders | readonly (string | string[])[], headers?: OutgoingHttpHeaders | readonly (string | string[])[]): this {
    const stream = this.stream;
    this.statusCode = statusCode;
    if (stream.headersSent || stream.destroyed || stream.closed) return this;
    const given = typeof statusMessage === 'string' || statusMessage === undefined ? headers : statusMessage;
    let object: OutgoingHttpHeaders = given === undefined ? {} : Array.isArray(given) ? headerObject(given) : { ...(given as OutgoingHttpHeaders) };
    object = this.trailersOnlyAsTrailers(object);
    object[':status'] = statusCode;
    const waitForTrailers = (this.trailersPossible || this.trailers !== undefined) && !stream.headRequest;
    if (waitForTrailers) stream.once('wantTrailers', sendTrailers);
    stream.respond(object, { waitForTrailers });
    return this;
  }

  addTrailers(headers: OutgoingHttpHeaders): void {
    this.trailers = this.trailers === undefined ? { ...headers } : Object.assign(this.trailers, headers);
  }

  /** For the stream's 'wantTrailers': none added still ends the stream (an empty trailing frame). */
  takeTrailers(): OutgoingHttpHeaders {
    return this.trailers ?? {};
  }

  /**
   * A gRPC "trailers-only" answer (grpc-status in the head, no body) needs its head to end the
   * stream. Its fields (all of them trailing metadata in that form) go into real trailers instead,
   * behind a head with only the content type: equally valid gRPC, and no head that must end the stream.
   */
  private trailersOnlyAsTrailers(object: OutgoingHttpHeaders): OutgoingHttpHeaders {
    if (object['grpc-status'] === undefined) return object;
    const kept: OutgoingHttpHeaders = {};
    const trailers: OutgoingHttpHeaders = {};
    for (const name in object) (name === 'content-type' ? kept : trailers)[name] = object[name];
    this.addTrailers(trailers);
    return kept;
  }

  writeProcessing(): void {
    if (!this.stream.destroyed && !this.stream.headersSent) this.stream.additionalHeaders({ ':status': 102 });
  }

  writeEarlyHints(hints: { link: string | string[] }): void {
    if (this.stream.destroyed || this.stream.headersSent) return;
    const link = Array.isArray(hints.link) ? hints.link.join(', ') : hints.link;
    if (link !== '') this.stream.additionalHeaders({ ':status': 103, link });
  }

  write(chunk: Uint8Array | string): boolean {
    const stream = this.stream;
    if (this.ending || stream.destroyed) return false;
    if (!stream.headersSent) this.writeHead(this.statusCode);
    // A HEAD request's stream ended with its head; a body for it is dropped, as HTTP/1.1 does.
    if (stream.headRequest) return true;
    stream[SOCKET].bytesWritten += typeof chunk === 'string' ? Buffer.byteLength(chunk) : chunk.byteLength;
    return stream.write(chunk);
  }

  end(chunk?: Uint8Array | string): this {
    if (this.ending) return this;
    if (chunk !== undefined) this.write(chunk);
    this.ending = true;
    const stream = this.stream;
    if (stream.destroyed) return this;
    if (!stream.headersSent) this.writeHead(this.statusCode);
    if (!stream.writableEnded) stream.end();
    return this;
  }

  destroy(): void {
    this.stream.destroy();
  }

  /** 'drain' is relayed from the stream only once somebody waits for it (backpressure is rare). */
  override once(event: string | symbol, listener: (...args: unknown[]) => void): this {
    if (event === 'drain' && !this.drainRelayed) {
      this.drainRelayed = true;
      this.stream.on('drain', relayDrain);
    }
    return super.once(event, listener);
  }
}

function relayClose(this: TrackedStream): void {
  this[RESPONSE].emit('close');
}

function relayDrain(this: TrackedStream): void {
  this[RESPONSE].emit('drain');
}

function sendTrailers(this: TrackedStream): void {
  this.sendTrailers(this[RESPONSE].takeTrailers());
}

/** [name, value, ...] as respond() takes it; a name given twice (set-cookie) gets every value. */
function headerObject(list: readonly (string | string[])[]): OutgoingHttpHeaders {
  const headers: OutgoingHttpHeaders = {};
  for (let i = 0; i < list.length; i += 2) {
    const name = list[i] as string;
    const value = list[i + 1];
    const had = headers[name];
    if (had === undefined) headers[name] = value;
    else headers[name] = [...(Array.isArray(had) ? had : [String(had)]), ...(Array.isArray(value) ? value : [value])];
  }
  return headers;
}

/** Errors on a client stream (a reset, a session torn down) reach the exchange as the stream's 'close'. */
function ignoreStreamError(): void {}

export type RequestHandler = (req: IncomingMessage, res: ServerResponse) => void;

const ALLOW = 'GET, HEAD, POST, PUT, DELETE, PATCH, OPTIONS';

/** Client HTTP/2 sessions: created from sockets the listener hands over, closed with GOAWAY at shutdown. */
export class H2Sessions {
  readonly server: Http2Server;
  private readonly sessions = new Set<Http2Session>();
  private readonly runtime: RuntimeRef;
  private readonly handler: RequestHandler;
  /** From goAwayAll on: sluice is shutting down. */
  private goingAway = false;

  constructor(runtime: RuntimeRef, handler: RequestHandler) {
    this.runtime = runtime;
    this.handler = handler;
    const { limits } = runtime.current.config;
    this.server = createServer({ settings: { maxConcurrentStreams: limits.maxConcurrentStreams } });
    this.server.on('stream', (stream: ServerHttp2Stream, headers: IncomingHttpHeaders, _flags: number, rawHeaders: string[]) => this.serve(stream as TrackedStream, headers, rawHeaders));
    this.server.on('session', (session: Http2Session) => this.track(session));
  }

  private serve(stream: TrackedStream, headers: IncomingHttpHeaders, rawHeaders: string[]): void {
    stream.on('error', ignoreStreamError);
    const method = headers[':method'];
    if (method === 'CONNECT') {
      stream.respond({ ':status': 405, allow: ALLOW, 'content-type': 'text/plain; charset=utf-8' });
      stream.end('Method Not Allowed: sluice does not tunnel CONNECT.\n');
      return;
    }
    const expect = headers.expect;
    if (expect !== undefined) {
      // As Node's HTTP/1.1 server: 100-continue is answered at once, anything else refused.
      if (expect.toLowerCase() !== '100-continue') {
        stream.respond({ ':status': 417 }, { endStream: true });
        return;
      }
      stream.additionalHeaders({ ':status': 100 });
    }
    // Host as HTTP/1.1 has it, for what reads the request after the header policy (the access log).
    if (headers.host === undefined && headers[':authority'] !== undefined) headers.host = headers[':authority'] as string;
    const req = new H2Request(stream, headers, rawHeaders);
    const res = new H2Response(stream, req);
    this.handler(req as unknown as IncomingMessage, res as unknown as ServerResponse);
  }

  get size(): number {
    return this.sessions.size;
  }

  /** A connection whose preface (or ALPN) says HTTP/2. */
  accept(socket: Socket): void {
    this.server.emit('connection', socket);
  }

  private track(session: Http2Session): void {
    // A connection accepted before the listener closed but sorted (preface read) only after the
    // GOAWAYs went out would otherwise be served on, unwarned, until the drain timeout.
    if (this.goingAway) session.close();
    this.sessions.add(session);
    let open = 0;
    session.on('stream', (stream: ServerHttp2Stream) => {
      open++;
      stream.once('close', () => { open--; });
    });
    session.on('error', () => session.destroy());
    session.once('close', () => this.sessions.delete(session));
    // timeouts.clientIdle: a session with no stream open and no byte moving is closed (GOAWAY).
    // A stream that is open but quiet is timeouts.idle's business (per stream), not this.
    session.setTimeout(this.runtime.current.config.timeouts.clientIdleMs, () => {
      if (open === 0) session.close();
    });
  }

  /** Settings a reload may change, for sessions from now on. */
  settingsChanged(): void {
    const { limits } = this.runtime.current.config;
    this.server.updateSettings({ maxConcurrentStreams: limits.maxConcurrentStreams });
  }

  /** Shutdown: every session gets GOAWAY; streams already open finish, new ones are refused. */
  goAwayAll(): void {
    this.goingAway = true;
    for (const session of this.sessions) if (!session.closed) session.close();
  }

  destroyAll(): void {
    for (const session of this.sessions) session.destroy();
  }
}
