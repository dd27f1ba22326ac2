// The proxy port: one listening socket that serves HTTP/1.1 and HTTP/2. Cleartext connections are
// told apart by HTTP/2's connection preface (prior knowledge, RFC 9113 §3.3); TLS connections by
// ALPN. Each connection is then handed whole to the HTTP/1.1 server or the HTTP/2 sessions; the
// exchange behind them is the same.

import type { Server as HttpServer } from 'node:http';
import { Server as NetServer, type Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { H2Sessions } from './h2-adapter.ts';

const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

export interface ListenerTargets {
  http1: HttpServer;
  http2: H2Sessions;
  /** How long a new connection may take to send its first bytes (timeouts.clientHeader). */
  firstBytesMs: () => number;
}

/** Cleartext: the first bytes decide. */
export function createCleartextListener(targets: ListenerTargets): NetServer {
  return new NetServer({ noDelay: true }, (socket) => sortByPreface(socket, targets));
}

/** TLS: the protocol the client and sluice agreed on in the handshake decides. */
export function routeByAlpn(socket: TLSSocket, targets: ListenerTargets): void {
  if (socket.alpnProtocol === 'h2') targets.http2.accept(socket);
  else targets.http1.emit('connection', socket);
}

function sortByPreface(socket: Socket, targets: ListenerTargets): void {
  socket.on('error', destroyQuietly);
  socket.setTimeout(targets.firstBytesMs(), destroyOnTimeout);
  const onReadable = (): void => {
    const chunk = socket.read() as Buffer | null;
    if (chunk === null) return;
    // Put the bytes back for whichever server takes the socket.
    socket.unshift(chunk);
    const n = Math.min(chunk.length, PREFACE.length);
    const matches = chunk.compare(PREFACE, 0, n, 0, n) === 0;
    // A short first read that could still be the preface: wait for more.
    if (matches && chunk.length < PREFACE.length) return;
    socket.off('readable', onReadable);
    socket.off('error', destroyQuietly);
    socket.setTimeout(0);
    socket.removeListener('timeout', destroyOnTimeout);
    if (matches) targets.http2.accept(socket);
    else targets.http1.emit('connection', socket);
  };
  socket.on('readable', onReadable);
}

function destroyQuietly(this: Socket): void {
  this.destroy();
}

function destroyOnTimeout(this: Socket): void {
  this.destroy();
}
