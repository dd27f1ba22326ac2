// A real gRPC server (@grpc/grpc-js) on 127.0.0.1 standing in for a gRPC application behind sluice.
// Messages are raw bytes (no .proto needed): test.Echo/Unary answers its name, test.Echo/Hang
// never answers, test.Echo/Fail answers NOT_FOUND with a trailer, test.Echo/Download and
// test.Echo/Upload stream one way each (and record how their writes and reads went);
// grpc.health.v1.Health/Check answers SERVING while `serving` is true. H2GrpcBackend is a gRPC
// server made from Node's http2 directly, for HTTP/2 behaviour grpc-js does not offer on request.

import * as grpc from '@grpc/grpc-js';
import { testPreamble } from './sluice-process.ts';
import { constants as h2, createServer as createH2Server, type Http2Server, type ServerHttp2Session, type ServerHttp2Stream } from 'node:http2';
import { listenOnLoopback } from './loopback.ts';

const bytes = { serialize: (b: Buffer): Buffer => b, deserialize: (b: Buffer): Buffer => b };

function unary(path: string): grpc.MethodDefinition<Buffer, Buffer> {
  return {
    path, requestStream: false, responseStream: false,
    requestSerialize: bytes.serialize, requestDeserialize: bytes.deserialize,
    responseSerialize: bytes.serialize, responseDeserialize: bytes.deserialize,
  };
}

/** test.Echo/Chat: answers every message as it arrives, "<name>:<message>" (bidirectional streaming). */
export const CHAT: grpc.MethodDefinition<Buffer, Buffer> = { ...unary('/test.Echo/Chat'), requestStream: true, responseStream: true };

/** test.Echo/Download: server streaming; the request "<count>x<size>" asks for count messages of size bytes (see downloadMessage). */
export const DOWNLOAD: grpc.MethodDefinition<Buffer, Buffer> = { ...unary('/test.Echo/Download'), responseStream: true };

/** test.Echo/Upload: client streaming; answers "<name>:<messages>:<bytes>" once the client has ended. */
export const UPLOAD: grpc.MethodDefinition<Buffer, Buffer> = { ...unary('/test.Echo/Upload'), requestStream: true };

/** Message `index` of a download: its index (uint32, big-endian), then the byte index % 251 repeated. */
export function downloadMessage(index: number, size: number): Buffer {
  const message = Buffer.alloc(size, index % 251);
  message.writeUInt32BE(index, 0);
  return message;
}

/** How a Download call's writes went, as the backend saw them. */
export interface DownloadProgress {
  /** Messages handed to call.write() so far. */
  written: number;
  /** call.write() calls that returned false (the stream asked the writer to wait). */
  refusedWrites: number;
  /** Waiting for 'drain' right now. */
  waitingForDrain: boolean;
  /** Every message written and the call ended. */
  finished: boolean;
  cancelled: boolean;
}

/** How an Upload call's reads went; with `holdUploads` it reads nothing until release(). */
export interface UploadProgress {
  messages: number;
  bytes: number;
  /** Messages that did not start with their own index (uint32, big-endian), as downloadMessage makes them. */
  outOfOrder: number;
  ended: boolean;
  release(): void;
}

export const METHODS = {
  unary: unary('/test.Echo/Unary'),
  hang: unary('/test.Echo/Hang'),
  fail: unary('/test.Echo/Fail'),
};

export class GrpcBackend {
  readonly name: string;
  port = 0;
  calls = 0;
  serving = true;
  /** Every Download call so far, in order. */
  readonly downloads: DownloadProgress[] = [];
  /** Every Upload call so far, in order. */
  readonly uploads: UploadProgress[] = [];
  /** Upload calls read nothing until their release(): a backend that stopped reading. */
  holdUploads = false;
  private server: grpc.Server | undefined;

  constructor(name: string) {
    this.name = name;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async start(): Promise<this> {
    const server = new grpc.Server();
    server.addService({ Unary: METHODS.unary, Hang: METHODS.hang, Fail: METHODS.fail, Chat: CHAT, Download: DOWNLOAD, Upload: UPLOAD }, {
      Download: (call: grpc.ServerWritableStream<Buffer, Buffer>) => this.download(call),
      Upload: (call: grpc.ServerReadableStream<Buffer, Buffer>, done: grpc.sendUnaryData<Buffer>) => this.upload(call, done),
      Chat: (call: grpc.ServerDuplexStream<Buffer, Buffer>) => {
        this.calls++;
        call.on('data', (message: Buffer) => call.write(Buffer.from(`${this.name}:${message.toString()}`)));
        call.on('end', () => call.end());
      },
      Unary: (call: grpc.ServerUnaryCall<Buffer, Buffer>, done: grpc.sendUnaryData<Buffer>) => {
        this.calls++;
        done(null, Buffer.from(`${this.name}:${call.request.toString()}`));
      },
      Hang: () => { this.calls++; },
      Fail: (_call: grpc.ServerUnaryCall<Buffer, Buffer>, done: grpc.sendUnaryData<Buffer>) => {
        this.calls++;
        const trailer = new grpc.Metadata();
        trailer.set('x-backend', this.name);
        done({ code: grpc.status.NOT_FOUND, details: 'no such thing', metadata: trailer });
      },
    });
    server.addService({ Check: unary('/grpc.health.v1.Health/Check') }, {
      // HealthCheckResponse { status: SERVING (1) } or NOT_SERVING (2).
      Check: (_call: grpc.ServerUnaryCall<Buffer, Buffer>, done: grpc.sendUnaryData<Buffer>) => done(null, Buffer.from([0x08, this.serving ? 1 : 2])),
    });
    this.port = await new Promise<number>((resolve, reject) => {
      server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, port) => (err ? reject(err) : resolve(port)));
    });
    this.server = server;
    return this;
  }

  /** Writes as fast as the stream takes messages, and waits for 'drain' whenever write() says so. */
  private download(call: grpc.ServerWritableStream<Buffer, Buffer>): void {
    this.calls++;
    const [count, size] = call.request.toString().split('x').map(Number);
    const progress: DownloadProgress = { written: 0, refusedWrites: 0, waitingForDrain: false, finished: false, cancelled: false };
    this.downloads.push(progress);
    call.on('cancelled', () => { progress.cancelled = true; });
    const writeMore = (): void => {
      progress.waitingForDrain = false;
      while (progress.written < count && !progress.cancelled) {
        const accepted = call.write(downloadMessage(progress.written, size));
        progress.written++;
        if (!accepted) {
          progress.refusedWrites++;
          progress.waitingForDrain = true;
          call.once('drain', writeMore);
          return;
        }
      }
      if (progress.cancelled) return;
      call.end();
      progress.finished = true;
    };
    writeMore();
  }

  private upload(call: grpc.ServerReadableStream<Buffer, Buffer>, done: grpc.sendUnaryData<Buffer>): void {
    this.calls++;
    let reading = false;
    const progress: UploadProgress = {
      messages: 0, bytes: 0, outOfOrder: 0, ended: false,
      release: () => {
        if (reading) return;
        reading = true;
        call.on('data', (message: Buffer) => {
          if (message.length < 4 || message.readUInt32BE(0) !== progress.messages) progress.outOfOrder++;
          progress.messages++;
          progress.bytes += message.length;
        });
      },
    };
    this.uploads.push(progress);
    call.on('end', () => {
      progress.ended = true;
      done(null, Buffer.from(`${this.name}:${progress.messages}:${progress.bytes}`));
    });
    call.on('error', () => {});
    if (!this.holdUploads) progress.release();
  }

  async kill(): Promise<void> {
    this.server?.forceShutdown();
    this.server = undefined;
  }

  /** A graceful shutdown (grpc-js tryShutdown): no new connections, GOAWAY on open ones, running calls finish. */
  drain(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (server === undefined) return Promise.resolve();
    return new Promise((resolve) => server.tryShutdown(() => resolve()));
  }
}

/** A unary call an H2GrpcBackend holds unanswered. */
export interface HeldCall {
  stream: ServerHttp2Stream;
  /** The request message, once the request has ended. */
  message: string | undefined;
}

/** gRPC's length-prefixed message framing: a flag byte (not compressed), a 4-byte length, the message. */
function grpcFrame(message: Buffer): Buffer {
  const prefix = Buffer.alloc(5);
  prefix.writeUInt32BE(message.length, 1);
  return Buffer.concat([prefix, message]);
}

/**
 * A gRPC server made from Node's http2 server (h2c), for what grpc-js does not do on request:
 * hold unary calls, drain with GOAWAY and a chosen last stream id, refuse streams with
 * RST_STREAM(REFUSED_STREAM). It serves test.Echo/Unary ("<name>:<message>") and health checks.
 */
export class H2GrpcBackend {
  readonly name: string;
  port = 0;
  /** answer: at once; hold: until goAway(); refuse: RST_STREAM(REFUSED_STREAM) as the call arrives. */
  mode: 'answer' | 'hold' | 'refuse' = 'answer';
  readonly held: HeldCall[] = [];
  /** Unary calls answered, and refused. */
  answered = 0;
  refused = 0;
  private server: Http2Server | undefined;
  private readonly sessions = new Set<ServerHttp2Session>();

  constructor(name: string) {
    this.name = name;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async start(): Promise<this> {
    const server = createH2Server();
    server.on('session', (session: ServerHttp2Session) => {
      this.sessions.add(session);
      session.once('close', () => this.sessions.delete(session));
      session.on('error', () => {});
    });
    server.on('stream', (stream: ServerHttp2Stream, headers) => this.onStream(stream, String(headers[':path'])));
    this.port = await listenOnLoopback(server);
    this.server = server;
    return this;
  }

  private onStream(stream: ServerHttp2Stream, path: string): void {
    stream.on('error', () => {});
    if (path === '/test.Echo/Unary' && this.mode === 'refuse') {
      this.refused++;
      stream.close(h2.NGHTTP2_REFUSED_STREAM);
      return;
    }
    const call: HeldCall = { stream, message: undefined };
    const hold = path === '/test.Echo/Unary' && this.mode === 'hold';
    if (hold) this.held.push(call);
    const chunks: Buffer[] = [];
    stream.on('data', (chunk: Buffer) => chunks.push(chunk));
    stream.on('end', () => {
      call.message = Buffer.concat(chunks).subarray(5).toString();
      if (path === '/grpc.health.v1.Health/Check') this.answer(stream, Buffer.from([0x08, 1]));
      else if (path === '/test.Echo/Unary') {
        if (!hold) this.answerCall(call);
      } else stream.respond({ ':status': 200, 'content-type': 'application/grpc', 'grpc-status': '12' }, { endStream: true });
    });
  }

  private answerCall(call: HeldCall): void {
    this.answered++;
    this.answer(call.stream, Buffer.from(`${this.name}:${call.message}`));
  }

  private answer(stream: ServerHttp2Stream, message: Buffer): void {
    if (stream.destroyed) return;
    stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
    stream.once('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
    stream.end(grpcFrame(message));
  }

  /**
   * Drains the connection that holds the calls: GOAWAY (NO_ERROR) whose last stream id covers the
   * first `processed` held calls (in stream order), which are then answered; the rest were not
   * processed, and are left to the client. From now on calls are answered at once. (Node's
   * http2 sends the last stream id it saw when asked for 0, so `processed` must be at least 1.)
   */
  goAway(processed: number): { processed: HeldCall[]; notProcessed: HeldCall[] } {
    const calls = this.held.splice(0).sort((a, b) => (a.stream.id ?? 0) - (b.stream.id ?? 0));
    const sessions = new Set(calls.map((c) => c.stream.session));
    if (sessions.size !== 1) throw new Error(`held calls on ${sessions.size} connections, not one`);
    const session = [...sessions][0]!;
    if (processed < 1) throw new Error('Node\'s http2 cannot send GOAWAY with last stream id 0');
    const done = calls.slice(0, processed);
    const lastStreamId = done.length === 0 ? 0 : done[done.length - 1].stream.id ?? 0;
    this.mode = 'answer';
    session.goaway(h2.NGHTTP2_NO_ERROR, lastStreamId);
    for (const call of done) {
      if (call.message !== undefined) this.answerCall(call);
      else call.stream.once('end', () => this.answerCall(call));
    }
    return { processed: done, notProcessed: calls.slice(processed) };
  }

  async kill(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (server === undefined) return;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    for (const session of this.sessions) session.destroy();
    await closed;
  }
}

export function startGrpcBackends(count: number): Promise<GrpcBackend[]> {
  return Promise.all(Array.from({ length: count }, (_, i) => new GrpcBackend(`g${i + 1}`).start()));
}

/** One gRPC client channel (one HTTP/2 connection) to `address`. */
export function grpcClient(address: string): grpc.Client {
  return new grpc.Client(address, grpc.credentials.createInsecure());
}

export interface CallResult {
  value?: string;
  error?: grpc.ServiceError;
  trailers?: grpc.Metadata;
}

export function call(client: grpc.Client, method: grpc.MethodDefinition<Buffer, Buffer>, message = 'hi'): Promise<CallResult> {
  return new Promise((resolve) => {
    let trailers: grpc.Metadata | undefined;
    const c = client.makeUnaryRequest(method.path, bytes.serialize, bytes.deserialize, Buffer.from(message), (error, value) => {
      resolve(error ? { error, trailers } : { value: value?.toString(), trailers });
    });
    c.on('status', (status: grpc.StatusObject) => { trailers = status.metadata; });
  });
}

/** A server-streaming Download call of count messages of size bytes. */
export function download(client: grpc.Client, count: number, size: number): grpc.ClientReadableStream<Buffer> {
  return client.makeServerStreamRequest(DOWNLOAD.path, bytes.serialize, bytes.deserialize, Buffer.from(`${count}x${size}`));
}

/** A client-streaming Upload call; `done` gets the backend's answer or the call's error. */
export function upload(client: grpc.Client, done: (error: grpc.ServiceError | null, answer?: string) => void): grpc.ClientWritableStream<Buffer> {
  return client.makeClientStreamRequest(UPLOAD.path, bytes.serialize, bytes.deserialize, (error, value) => done(error, value?.toString()));
}

/** A bidirectional call: messages are read and written as they come. */
export function chat(client: grpc.Client): grpc.ClientDuplexStream<Buffer, Buffer> {
  return client.makeBidiStreamRequest(CHAT.path, bytes.serialize, bytes.deserialize);
}

/** A sluice config for gRPC backends over h2c, checked with gRPC's health protocol; `extra`: more top-level YAML. */
export function grpcConfig(urls: string[], extra = ''): string {
  return [...testPreamble(), '  type: grpc', 'upstream:', '  protocol: h2c', extra, 'backends:', ...urls.map((url) => `  - url: ${url}`), ''].join('\n');
}
