// Test servers listen on 127.0.0.1 only; one way to start one and to stop it like a crash.

import type { AddressInfo, Server, Socket } from 'node:net';

/** Listens on 127.0.0.1 (port 0: an ephemeral one) and resolves with the bound port. */
export async function listenOnLoopback(server: Server, port = 0): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  return (server.address() as AddressInfo).port;
}

/** Keeps `sockets` up to date with the server's open connections (`event`: 'secureConnection' for TLS). */
export function trackSockets(server: Server, sockets: Set<Socket>, event = 'connection'): void {
  server.on(event, (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
}

/** Closes the listener and ends every open connection with `end` (destroy, or a reset). */
export async function closeAbruptly(server: Server, sockets: Iterable<Socket>, end: (socket: Socket) => void = (s) => s.destroy()): Promise<void> {
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  for (const socket of sockets) end(socket);
  await closed;
}
