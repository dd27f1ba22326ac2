// A backend for upgrade (WebSocket) tests whose behaviour depends on the upgrade request's path:
//   /headers  101, then the upgrade request's headers as one JSON line on the raw tunnel
//   /refuse   403 instead of 101
//   /never    never answers the upgrade (the socket is held open)
//   /open     101, then holds its side open whatever the client does, echoing bytes back
//   /close    101, then ends its side at once
//   /ws       a real WebSocket (ws library): greets, echoes, records the close codes it gets
// Plain requests: /health 200, /slow?ms=N answers after N ms, anything else 200.

import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { Socket } from 'node:net';
import { createHash } from 'node:crypto';
import { WebSocketServer } from 'ws';
import { closeAbruptly, listenOnLoopback, trackSockets } from './loopback.ts';

function accept(req: IncomingMessage): string {
  const key = String(req.headers['sec-websocket-key'] ?? '');
  return createHash('sha1').update(key + '258EAFA5-E914-47DA-95CA-C5AB0DC11B65').digest('base64');
}

export class UpgradeBackend {
  port = 0;
  /** Upgrade requests received, by path. */
  readonly upgrades: string[] = [];
  /** Sockets of upgrade requests, open until sluice ends or resets them. */
  readonly held = new Set<Socket>();
  /** Upgrade sockets that sluice ended or reset. */
  heldClosed = 0;
  /** Close codes the /ws WebSocket got from its peer. */
  readonly wsCloseCodes: number[] = [];
  private server: Server | undefined;
  private readonly wss = new WebSocketServer({ noServer: true });
  private readonly sockets = new Set<Socket>();

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async start(): Promise<this> {
    const server = createServer((req, res) => {
      const url = new URL(req.url ?? '/', 'http://x');
      if (url.pathname === '/slow') {
        const timer = setTimeout(() => res.end('slow done\n'), Number(url.searchParams.get('ms') ?? '1000'));
        res.once('close', () => clearTimeout(timer));
        return;
      }
      res.end('ok\n');
    });
    trackSockets(server, this.sockets);
    server.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => this.onUpgrade(req, socket, head));
    this.wss.on('connection', (ws) => {
      ws.send('hello');
      ws.on('message', (data) => ws.send(`echo: ${data.toString()}`));
      ws.on('close', (code) => this.wsCloseCodes.push(code));
    });
    this.port = await listenOnLoopback(server, 0);
    this.server = server;
    return this;
  }

  async kill(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    for (const ws of this.wss.clients) ws.terminate();
    await closeAbruptly(server, [...this.sockets, ...this.held]);
  }

  private onUpgrade(req: IncomingMessage, socket: Socket, head: Buffer): void {
    const path = (req.url ?? '/').split('?')[0];
    this.upgrades.push(path);
    socket.on('error', () => socket.destroy());
    if (path === '/ws') {
      this.wss.handleUpgrade(req, socket, head, (ws) => this.wss.emit('connection', ws, req));
      return;
    }
    this.held.add(socket);
    let counted = false;
    const gone = (): void => {
      if (counted) return;
      counted = true;
      this.heldClosed++;
      this.held.delete(socket);
    };
    socket.once('end', gone);
    socket.once('close', gone);
    const switching = `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept(req)}\r\n\r\n`;
    switch (path) {
      case '/headers':
        socket.write(switching + JSON.stringify(req.headers) + '\n');
        return;
      case '/refuse':
        socket.end('HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\nContent-Length: 10\r\nConnection: close\r\n\r\nforbidden\n');
        return;
      case '/never':
        return;
      case '/open':
        socket.write(switching);
        socket.on('data', (chunk: Buffer) => { if (socket.writable) socket.write(chunk); });
        return;
      case '/close':
        socket.end(switching);
        return;
      default:
        socket.end('HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
    }
  }
}

/** A raw WebSocket upgrade request (GET, valid handshake headers) for `path`. */
export function upgradeRequest(path: string, extra: string[] = [], host = 'app.example.test'): string {
  return [
    `GET ${path} HTTP/1.1`, `Host: ${host}`, 'Connection: Upgrade', 'Upgrade: websocket',
    'Sec-WebSocket-Version: 13', 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==', ...extra, '', '',
  ].join('\r\n');
}
