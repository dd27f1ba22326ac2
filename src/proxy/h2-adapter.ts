// HTTP/2 at the edge: client streams become the request/response pair the Forwarder already
// serves, so an HTTP/2 request gets the same exchange as an HTTP/1.1 one (balancing, retries,
// timeouts, header policy, observers). What differs lives here: per-stream timeouts and byte
// counts, no status message, GOAWAY instead of "Connection: close", streams per session.
// Towards backends undici speaks HTTP/2; the one thing it needs from us is at the end of this file.

import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  constants, createServer, Http2ServerRequest, Http2ServerResponse,
  type Http2Server, type Http2Session, type OutgoingHttpHeaders, type ServerHttp2Stream,
} from 'node:http2';
import type { Socket } from 'node:net';
import type { RuntimeRef } from '../runtime.ts';

const { NGHTTP2_CANCEL } = constants;

/**
 * What the exchange asks of "the client connection", per stream: HTTP/2's real socket is shared
 * by every stream of the session, so its timeout, byte counts and destruction are not one
 * request's. (Node's compat `req.socket` proxies the session socket; setTimeout there would time
 * out the whole session.)
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

export class H2Request extends Http2ServerRequest {
  streamSocket: StreamSocket | undefined;

  /** The compat layer hands every body chunk over here: counted without touching the stream's flow. */
  override push(chunk: unknown, encoding?: BufferEncoding): boolean {
    if (this.streamSocket !== undefined && chunk !== null && chunk !== undefined) this.streamSocket.bytesRead += (chunk as Buffer).length;
    return super.push(chunk, encoding);
  }
}

// `socket` is a data property in Node's typings but a getter at runtime; replaced the same way.
Object.defineProperty(H2Request.prototype, 'socket', {
  get(this: H2Request): StreamSocket {
    if (this.streamSocket === undefined) {
      const stream = this.stream as ServerHttp2Stream & { [SOCKET]?: StreamSocket };
      this.streamSocket = new StreamSocket(stream, stream.session?.socket as Socket);
      stream[SOCKET] = this.streamSocket;
    }
    return this.streamSocket;
  },
});

export class H2Response extends Http2ServerResponse<H2Request> {
  /** HTTP/1.1's keep-alive switch; HTTP/2 ends connections with GOAWAY instead. */
  shouldKeepAlive = true;
  /**
   * Cleared by the exchange for an answer that cannot have trailers (HTTP/1.1 with a length): its
   * stream then ends with its last DATA frame instead of waiting for trailers.
   */
  trailersPossible = true;

  /** HTTP/2 has no reason phrase: it is dropped here rather than warned about by Node. */
  override writeHead(statusCode: number, statusMessage?: string | OutgoingHttpHeaders | readonly string[], headers?: OutgoingHttpHeaders | readonly string[]): this {
    let list = typeof statusMessage === 'string' || statusMessage === undefined ? headers : statusMessage;
    if (list !== undefined) list = this.trailersOnlyAsTrailers(list);
    const stream = this.stream;
    if (Array.isArray(list) && statusCode >= 200 && !stream.headersSent && !stream.destroyed && !stream.closed) {
      // The exchange's flat list (hop-by-hop fields already gone) straight to respond(): the compat
      // layer would remove, validate and copy every field into its own object first.
      this.statusCode = statusCode;
      stream.respond(headerObject(list as readonly (string | string[])[], statusCode), { waitForTrailers: this.trailersPossible || this.trailersAdded });
      return this;
    }
    // The compat layer's typings take an object; it accepts the flat list writeHead takes on HTTP/1.1 too.
    return super.writeHead(statusCode, list as OutgoingHttpHeaders);
  }

  private trailersAdded = false;

  override addTrailers(headers: OutgoingHttpHeaders): void {
    this.trailersAdded = true;
    super.addTrailers(headers);
  }

  /**
   * A gRPC "trailers-only" answer (grpc-status in the head, no body) needs its head to end the
   * stream, which the compat layer never does: it ends with an empty DATA frame, and gRPC clients
   * then find no status. Its fields (all of them trailing metadata in that form) go into real
   * trailers instead, behind a head with only the content type: equally valid gRPC.
   */
  private trailersOnlyAsTrailers(headers: OutgoingHttpHeaders | readonly string[]): OutgoingHttpHeaders | readonly string[] {
    if (Array.isArray(headers)) {
      if (!headers.includes('grpc-status')) return headers;
      const kept: string[] = [];
      const trailers: OutgoingHttpHeaders = {};
      for (let i = 0; i < headers.length; i += 2) {
        if (headers[i] === 'content-type') kept.push(headers[i], headers[i + 1]);
        else trailers[headers[i]] = headers[i + 1];
      }
      this.addTrailers(trailers);
      return kept;
    }
    const object = headers as OutgoingHttpHeaders;
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

  override write(chunk: Uint8Array | string, encoding?: BufferEncoding | ((err: Error) => void), callback?: (err: Error) => void): boolean {
    const socket = (this.stream as ServerHttp2Stream & { [SOCKET]?: StreamSocket })[SOCKET];
    if (socket !== undefined) socket.bytesWritten += typeof chunk === 'string' ? Buffer.byteLength(chunk) : chunk.byteLength;
    return super.write(chunk, encoding as BufferEncoding, callback);
  }
}

/** [name, value, ...] as respond() takes it; a name given twice (set-cookie) gets every value. */
function headerObject(list: readonly (string | string[])[], status: number): OutgoingHttpHeaders {
  const headers: OutgoingHttpHeaders = { ':status': status };
  for (let i = 0; i < list.length; i += 2) {
    const name = list[i] as string;
    const value = list[i + 1];
    const had = headers[name];
    if (had === undefined) headers[name] = value;
    else headers[name] = [...(Array.isArray(had) ? had : [String(had)]), ...(Array.isArray(value) ? value : [value])];
  }
  return headers;
}

Object.defineProperty(H2Response.prototype, 'destroyed', {
  get(this: H2Response): boolean {
    return this.stream.destroyed;
  },
});

export type RequestHandler = (req: IncomingMessage, res: ServerResponse) => void;

/** Client HTTP/2 sessions: created from sockets the listener hands over, closed with GOAWAY at shutdown. */
export class H2Sessions {
  readonly server: Http2Server<typeof IncomingMessage, typeof ServerResponse, typeof H2Request, typeof H2Response>;
  private readonly sessions = new Set<Http2Session>();
  private readonly runtime: RuntimeRef;
  /** From goAwayAll on: sluice is shutting down. */
  private goingAway = false;

  constructor(runtime: RuntimeRef, handler: RequestHandler) {
    this.runtime = runtime;
    const { limits } = runtime.current.config;
    this.server = createServer({
      Http2ServerRequest: H2Request,
      Http2ServerResponse: H2Response,
      settings: { maxConcurrentStreams: limits.maxConcurrentStreams },
    });
    // The compat layer's request/response mirror http's IncomingMessage/ServerResponse in what
    // the Forwarder uses; the subclasses above cover the rest.
    this.server.on('request', (req: H2Request, res: H2Response) => {
      if (req.method === 'CONNECT') {
        res.writeHead(405, { allow: 'GET, HEAD, POST, PUT, DELETE, PATCH, OPTIONS', 'content-type': 'text/plain; charset=utf-8' });
        res.end('Method Not Allowed: sluice does not tunnel CONNECT.\n');
        return;
      }
      // Host as HTTP/1.1 has it, for what reads the request after the header policy (the access log).
      if (req.headers.host === undefined && req.authority !== undefined) req.headers.host = req.authority;
      handler(req as unknown as IncomingMessage, res as unknown as ServerResponse);
    });
    this.server.on('session', (session: Http2Session) => this.track(session));
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
