// Client connections on the proxy listener: which are between requests, so that shutdown can
// close idle keep-alive connections without cutting one under a request, and client errors
// (bad request heads, header timeouts, CONNECT) answered with the right status.

import type { Server } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { rawResponse } from './upstream-errors.ts';

const ACTIVE = Symbol('sluice.activeRequests');
const IDLE_SINCE = Symbol('sluice.idleSince');

type TrackedSocket = Socket & { [ACTIVE]?: number; [IDLE_SINCE]?: number };

/** A request started on this connection. */
export function trackRequest(socket: Socket): void {
  const tracked = socket as TrackedSocket;
  tracked[ACTIVE] = (tracked[ACTIVE] ?? 0) + 1;
}

/** That request's response is done or abandoned. */
export function requestDone(socket: Socket | null): void {
  if (socket === null) return;
  const tracked = socket as TrackedSocket;
  tracked[ACTIVE] = Math.max(0, (tracked[ACTIVE] ?? 1) - 1);
  tracked[IDLE_SINCE] = performance.now();
}

export class ClientConnections {
  private readonly sockets = new Set<TrackedSocket>();

  constructor(server: Server) {
    server.on('connection', (socket: TrackedSocket) => {
      socket[IDLE_SINCE] = performance.now();
      this.sockets.add(socket);
      socket.once('close', () => this.sockets.delete(socket));
    });
    server.on('clientError', onClientError);
    // A forward proxy's tunnel is not what sluice is for.
    server.on('connect', (_req, socket: Duplex) => {
      socket.on('error', () => socket.destroy());
      socket.end(rawResponse(405, 'Method Not Allowed', 'Method Not Allowed: sluice does not tunnel CONNECT.\n', 'Allow: GET, HEAD, POST, PUT, DELETE, PATCH, OPTIONS\r\n'));
    });
  }

  get size(): number {
    return this.sockets.size;
  }

  /**
   * Closes connections that have been between requests for at least `idleMs`. A client that just
   * got a response may already be sending its next request; waiting a moment before closing
   * keeps that request from meeting a reset.
   */
  closeIdle(idleMs: number): void {
    const now = performance.now();
    for (const socket of this.sockets) {
      if ((socket[ACTIVE] ?? 0) === 0 && now - (socket[IDLE_SINCE] ?? now) >= idleMs) socket.destroy();
    }
  }

  closeAll(): void {
    for (const socket of this.sockets) socket.destroy();
  }
}

/** 431 for a head too large, 408 when it did not arrive in time, 400 for anything else malformed. */
function onClientError(err: NodeJS.ErrnoException, socket: Duplex): void {
  if (err.code === 'ECONNRESET' || !socket.writable) {
    socket.destroy();
    return;
  }
  const reply = err.code === 'HPE_HEADER_OVERFLOW' ? rawResponse(431, 'Request Header Fields Too Large', 'Request Header Fields Too Large\n')
    : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? rawResponse(408, 'Request Timeout', 'Request Timeout: the request head did not arrive in time.\n')
    : rawResponse(400, 'Bad Request', 'Bad Request\n');
  socket.end(reply);
}
