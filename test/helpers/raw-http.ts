// Raw TCP on both sides of sluice, for failures a Node HTTP server or client cannot produce:
// a backend that closes without answering or sends a broken status line, a client that sends
// its head one byte at a time, never reads, or half-closes a tunnel.

import { connect, createServer, type Server, type Socket } from 'node:net';
import { eventually } from './eventually.ts';
import { SluiceProcess, testPreamble } from './sluice-process.ts';
import { closeAbruptly, listenOnLoopback } from './loopback.ts';

/** "127.0.0.1:1234" → { host, port }. */
export function hostPort(address: string): { host: string; port: number } {
  const i = address.lastIndexOf(':');
  return { host: address.slice(0, i).replace(/^\[|\]$/g, ''), port: Number(address.slice(i + 1)) };
}

/**
 * A config for suites that are not about health checks: probes once a second with a 1 s timeout
 * and one pass to come back, so a loaded machine does not make backends flap during the test.
 */
export function steadyConfig(urls: string[], extra = ''): string {
  const preamble = testPreamble(1).join('\n')
    .replace('interval: 300ms', 'interval: 1s')
    .replace('timeout: 300ms', 'timeout: 1s');
  return [preamble, extra, 'backends:', ...urls.map((url) => `  - url: ${url}`), ''].join('\n');
}

// ---------------------------------------------------------------------------------------------
// Client side

/** A raw client connection: everything received is kept; close and end are observable. */
export class RawClient {
  readonly socket: Socket;
  private chunks: Buffer[] = [];
  bytes = 0;
  ended = false;
  closed = false;
  error: NodeJS.ErrnoException | undefined;
  readonly connected: Promise<void>;

  constructor(address: string) {
    const { host, port } = hostPort(address);
    this.socket = connect({ host, port, allowHalfOpen: true });
    this.connected = new Promise((resolve, reject) => {
      this.socket.once('connect', () => resolve());
      this.socket.once('error', reject);
    });
    this.socket.on('data', (chunk: Buffer) => {
      this.chunks.push(chunk);
      this.bytes += chunk.length;
    });
    this.socket.on('end', () => { this.ended = true; });
    this.socket.on('error', (err: NodeJS.ErrnoException) => { this.error = err; });
    this.socket.on('close', () => { this.closed = true; });
  }

  static async open(address: string): Promise<RawClient> {
    const client = new RawClient(address);
    await client.connected;
    return client;
  }

  /** Everything received so far, as latin1 text (byte for byte). */
  get text(): string {
    if (this.chunks.length > 1) this.chunks = [Buffer.concat(this.chunks)];
    return this.chunks[0]?.toString('latin1') ?? '';
  }

  write(data: string | Buffer): void {
    if (!this.socket.destroyed) this.socket.write(data);
  }

  /** Waits until the received text matches. */
  waitFor(pattern: RegExp, what: string, timeoutMs = 10_000): Promise<RegExpExecArray> {
    return this.withReceived(eventually(() => pattern.exec(this.text) ?? undefined, what, timeoutMs));
  }

  /** Waits until `count` complete responses have arrived, and returns them. */
  waitForResponses(count: number, what: string, timeoutMs = 10_000): Promise<RawResponse[]> {
    return this.withReceived(eventually(() => {
      const responses = parseResponses(this.text);
      return responses.length >= count ? responses : undefined;
    }, what, timeoutMs));
  }

  /** A timeout's message says what had arrived by then. */
  private async withReceived<T>(waiting: Promise<T>): Promise<T> {
    try {
      return await waiting;
    } catch (err) {
      (err as Error).message += ` (received: ${JSON.stringify(this.text.slice(0, 400))}, ended: ${this.ended}, closed: ${this.closed})`;
      throw err;
    }
  }

  /** Waits until the server has ended or reset its side of the connection. */
  waitForClose(what: string, timeoutMs = 10_000): Promise<boolean> {
    return eventually(() => this.ended || this.closed, what, timeoutMs);
  }

  destroy(): void {
    this.socket.destroy();
  }
}

/** Sends `text` and resolves with everything received once the server has closed the connection. */
export async function exchange(address: string, text: string | Buffer, timeoutMs = 10_000): Promise<string> {
  const client = await RawClient.open(address);
  try {
    client.write(text);
    await eventually(() => client.ended || client.closed, 'the server to close the connection', timeoutMs);
    return client.text;
  } finally {
    client.destroy();
  }
}

export interface RawResponse {
  status: number;
  reason: string;
  /** Lower-case names; repeated headers joined with ", ". */
  headers: Record<string, string>;
  head: string;
  body: string;
}

/**
 * Complete HTTP/1.1 responses in `text`, in order (1xx included). Bodies by Content-Length or
 * chunked; a response without either is complete only if it is the last thing received.
 */
export function parseResponses(text: string, untilClose = false): RawResponse[] {
  const out: RawResponse[] = [];
  let at = 0;
  while (at < text.length) {
    const headEnd = text.indexOf('\r\n\r\n', at);
    if (headEnd < 0) break;
    const head = text.slice(at, headEnd);
    const [statusLine, ...lines] = head.split('\r\n');
    const match = /^HTTP\/1\.[01] (\d{3}) ?(.*)$/.exec(statusLine);
    if (!match) break;
    const headers = headerLines(lines);
    const status = Number(match[1]);
    let bodyStart = headEnd + 4;
    let body = '';
    if (status < 200 || status === 204 || status === 304) {
      // no body
    } else if (headers['content-length'] !== undefined) {
      const length = Number(headers['content-length']);
      if (text.length < bodyStart + length) break;
      body = text.slice(bodyStart, bodyStart + length);
      bodyStart += length;
    } else if (/chunked/i.test(headers['transfer-encoding'] ?? '')) {
      let pos = bodyStart;
      let complete = false;
      for (;;) {
        const lineEnd = text.indexOf('\r\n', pos);
        if (lineEnd < 0) break;
        const size = parseInt(text.slice(pos, lineEnd), 16);
        if (Number.isNaN(size)) break;
        if (size === 0) {
          const trailerEnd = text.indexOf('\r\n\r\n', lineEnd);
          if (trailerEnd < 0 && text.slice(lineEnd, lineEnd + 4) !== '\r\n\r\n') break;
          pos = (trailerEnd < 0 ? lineEnd : trailerEnd) + 4;
          complete = true;
          break;
        }
        if (text.length < lineEnd + 2 + size + 2) break;
        body += text.slice(lineEnd + 2, lineEnd + 2 + size);
        pos = lineEnd + 2 + size + 2;
      }
      if (!complete) break;
      bodyStart = pos;
    } else {
      if (!untilClose) break;
      body = text.slice(bodyStart);
      bodyStart = text.length;
    }
    out.push({ status, reason: match[2], headers, head, body });
    at = bodyStart;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Backend side

export interface RawRequest {
  method: string;
  target: string;
  /** Path without the query. */
  path: string;
  /** Lower-case names; repeated headers joined with ", ". */
  headers: Record<string, string>;
  head: string;
  body: Buffer;
}

/**
 * What a raw backend does with one request: write any bytes (or none) to the socket. Return
 * 'detach' to stop parsing further requests on this connection (hung or upgraded connections).
 */
export type RawHandler = (req: RawRequest, socket: Socket, backend: RawBackend) => void | 'detach';

/** A complete keep-alive response with a Content-Length body. */
export function rawOk(body: string, status = 200, extra = ''): string {
  return `HTTP/1.1 ${status} ${status === 200 ? 'OK' : 'Status'}\r\nContent-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(body)}\r\n${extra}\r\n${body}`;
}

/**
 * A backend that speaks HTTP/1.1 by hand. `GET /health` always answers 200; every other request
 * goes to the handler. Requests with a Content-Length body are read whole before the handler runs.
 */
export class RawBackend {
  readonly name: string;
  port = 0;
  handler: RawHandler;
  /** Paths of every non-health request, in arrival order. */
  readonly hits: string[] = [];
  readonly sockets = new Set<Socket>();
  /** Connections that carried at least one non-health request and that sluice has since ended or reset. */
  closedRequestSockets = 0;
  private server: Server | undefined;

  constructor(name: string, handler: RawHandler) {
    this.name = name;
    this.handler = handler;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  count(path: string): number {
    return this.hits.filter((p) => p === path).length;
  }

  async start(): Promise<this> {
    const server = createServer({ allowHalfOpen: true }, (socket) => this.onConnection(socket));
    this.port = await listenOnLoopback(server, 0);
    this.server = server;
    return this;
  }

  async kill(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    await closeAbruptly(server, this.sockets);
  }

  private onConnection(socket: Socket): void {
    this.sockets.add(socket);
    let buffer: Buffer = Buffer.alloc(0);
    let detached = false;
    let carriedRequest = false;
    let counted = false;
    const closedBySluice = (): void => {
      if (carriedRequest && !counted) {
        counted = true;
        this.closedRequestSockets++;
      }
    };
    socket.on('error', () => socket.destroy());
    socket.once('close', () => {
      this.sockets.delete(socket);
      closedBySluice();
    });
    // A half-close from sluice ends our side too unless a handler took the socket over.
    socket.on('end', () => {
      closedBySluice();
      if (!detached) socket.end();
    });
    socket.on('data', (chunk: Buffer) => {
      if (detached) return;
      buffer = buffer.length === 0 ? chunk : Buffer.concat([buffer, chunk]);
      for (;;) {
        const headEnd = buffer.indexOf('\r\n\r\n');
        if (headEnd < 0) return;
        const head = buffer.subarray(0, headEnd).toString('latin1');
        const [requestLine, ...lines] = head.split('\r\n');
        const [method = '', target = ''] = requestLine.split(' ');
        const headers = headerLines(lines);
        const length = Number(headers['content-length'] ?? '0');
        if (buffer.length < headEnd + 4 + length) return;
        const body = buffer.subarray(headEnd + 4, headEnd + 4 + length);
        buffer = buffer.subarray(headEnd + 4 + length);
        const path = target.split('?')[0];
        const req: RawRequest = { method, target, path, headers, head, body };
        if (path === '/health') {
          socket.write(rawOk('ok\n'));
          continue;
        }
        carriedRequest = true;
        this.hits.push(path);
        if (this.handler(req, socket, this) === 'detach') {
          detached = true;
          return;
        }
        if (socket.destroyed) return;
      }
    });
  }
}

export async function startRawBackends(count: number, handler: RawHandler, prefix = 'r'): Promise<RawBackend[]> {
  return Promise.all(Array.from({ length: count }, (_, i) => new RawBackend(`${prefix}${i + 1}`, handler).start()));
}

// ---------------------------------------------------------------------------------------------
// Cleanup for suites that start things the Harness does not know about

/** Stop functions run after each test of the calling suite, last registered first, also when the test failed. */
export class Cleanup {
  private readonly steps: (() => unknown)[] = [];

  add<T>(item: T, stop: (item: T) => unknown): T {
    this.steps.push(() => stop(item));
    return item;
  }

  async run(): Promise<void> {
    const errors: unknown[] = [];
    for (const step of this.steps.splice(0).reverse()) {
      try {
        await step();
      } catch (err) {
        errors.push(err);
      }
    }
    if (errors.length > 0) throw errors[0];
  }
}

export function cleanupPerTest(): Cleanup {
  const cleanup = new Cleanup();
  afterEach(() => cleanup.run());
  return cleanup;
}

/** Starts the real sluice with `configText`, stopped at cleanup; waits for `healthy` healthy backends. */
export async function startSluice(cleanup: Cleanup, configText: string, healthy: number): Promise<SluiceProcess> {
  const sluice = cleanup.add(new SluiceProcess(configText), (s) => s.stop());
  return sluice.start(healthy);
}

/** A config with the given health-check settings, `extra` top-level YAML and the static backends. */
export function configWithProbes(hc: { interval: string; timeout: string; healthyThreshold: number; unhealthyThreshold: number }, extra: string, urls: string[]): string {
  return [
    'listen: "127.0.0.1:0"',
    'admin:',
    '  listen: "127.0.0.1:0"',
    'healthCheck:',
    `  interval: ${hc.interval}`,
    `  timeout: ${hc.timeout}`,
    `  healthyThreshold: ${hc.healthyThreshold}`,
    `  unhealthyThreshold: ${hc.unhealthyThreshold}`,
    extra,
    'backends:',
    ...urls.map((url) => `  - url: ${url}`),
    '',
  ].join('\n');
}

/** "Name: value" lines → lower-cased names, repeated names joined with ", ". */
function headerLines(lines: string[]): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(':');
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    headers[name] = headers[name] === undefined ? value : `${headers[name]}, ${value}`;
  }
  return headers;
}
