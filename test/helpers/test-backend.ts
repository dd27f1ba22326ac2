// A real HTTP (and WebSocket) server on 127.0.0.1 standing in for an application behind sluice.
// Routes: /health (status settable), / (its name), /echo (request as JSON), /slow?ms=N,
// /respond?status=N, /hang (never answers; records when the client goes away), /upload (counts body bytes),
// /download?bytes=N (streams N bytes).

import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { WebSocketServer } from 'ws';
import { closeAbruptly, listenOnLoopback, trackSockets } from './loopback.ts';

export class TestBackend {
  readonly name: string;
  port = 0;
  healthStatus = 200;
  /** Requests seen per path (health probes excluded). */
  hits = 0;
  healthHits = 0;
  /** Number of /hang requests whose client connection went away. */
  hangsAborted = 0;
  hangsOpen = 0;
  /** Bytes the current /download has handed to its socket so far. */
  downloadSent = 0;
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();

  constructor(name: string) {
    this.name = name;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async start(port = this.port): Promise<this> {
    const server = createServer((req, res) => this.handle(req, res));
    server.keepAliveTimeout = 5000;
    trackSockets(server, this.sockets);
    const wss = new WebSocketServer({ server });
    wss.on('connection', (ws, req) => {
      ws.send(`hello from ${this.name} ${req.url}`);
      ws.on('message', (data, isBinary) => ws.send(isBinary ? data : `${this.name}: ${data.toString()}`, { binary: isBinary }));
    });
    this.port = await listenOnLoopback(server, port);
    this.server = server;
    return this;
  }

  /** Dies like a crashed process: listener closed, every connection reset. */
  async kill(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    await closeAbruptly(server, this.sockets, (socket) => socket.resetAndDestroy());
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://x');
    if (url.pathname === '/health') {
      this.healthHits++;
      res.writeHead(this.healthStatus, { 'content-type': 'text/plain' });
      res.end(this.healthStatus < 300 ? 'ok\n' : 'sick\n');
      return;
    }
    this.hits++;
    switch (url.pathname) {
      case '/echo': {
        const body = JSON.stringify({ backend: this.name, method: req.method, url: req.url, headers: req.headers, rawHeaders: req.rawHeaders });
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), connection: 'keep-alive', 'keep-alive': 'timeout=5', 'x-backend': this.name });
        res.end(body);
        return;
      }
      case '/slow': {
        const ms = Number(url.searchParams.get('ms') ?? '1000');
        const timer = setTimeout(() => res.end(`${this.name} slow ${ms}\n`), ms);
        res.once('close', () => clearTimeout(timer));
        return;
      }
      case '/respond': {
        const status = Number(url.searchParams.get('status') ?? '200');
        res.writeHead(status, { 'content-type': 'text/plain', 'x-backend': this.name });
        res.end(`${this.name} ${status}\n`);
        return;
      }
      case '/hang':
        this.hangsOpen++;
        res.once('close', () => { this.hangsOpen--; this.hangsAborted++; });
        return;
      case '/upload': {
        let bytes = 0;
        req.on('data', (chunk: Buffer) => { bytes += chunk.length; });
        req.on('end', () => res.end(JSON.stringify({ backend: this.name, bytes })));
        return;
      }
      case '/download': {
        const total = Number(url.searchParams.get('bytes') ?? '0');
        const chunk = Buffer.alloc(64 * 1024, 'x');
        let sent = 0;
        this.downloadSent = 0;
        res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': total });
        const pump = (): void => {
          while (sent < total) {
            const n = Math.min(chunk.length, total - sent);
            sent += n;
            this.downloadSent = sent;
            if (!res.write(n === chunk.length ? chunk : chunk.subarray(0, n))) {
              res.once('drain', pump);
              return;
            }
          }
          res.end();
        };
        pump();
        return;
      }
      default:
        res.writeHead(200, { 'content-type': 'text/plain', 'x-backend': this.name });
        res.end(`${this.name}\n`);
    }
  }
}

export async function startBackends(count: number, prefix = 'b'): Promise<TestBackend[]> {
  return Promise.all(Array.from({ length: count }, (_, i) => new TestBackend(`${prefix}${i + 1}`).start()));
}
