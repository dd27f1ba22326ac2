// WebSocket (and other HTTP/1.1 Upgrade) requests: balanced like any request, then tunnelled
// both ways by http-proxy. A tunnel counts as in flight until either side closes it.

import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import httpProxy from 'http-proxy';
import type { Forwarder } from './forwarder.ts';
import { classifyUpstreamError } from './upstream-errors.ts';
import { describeError } from '../pool/connection-errors.ts';

const UNAVAILABLE_BODY = 'Service Unavailable: no healthy backend.\n';
const UNAVAILABLE = `HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\nContent-Length: ${UNAVAILABLE_BODY.length}\r\n\r\n${UNAVAILABLE_BODY}`;

export class UpgradeTunnel {
  private readonly forwarder: Forwarder;
  private readonly proxy = httpProxy.createProxyServer({ xfwd: true, ws: true });

  constructor(forwarder: Forwarder) {
    this.forwarder = forwarder;
    // Errors are handled per call below; this keeps a stray one from crashing the process.
    this.proxy.on('error', () => {});
  }

  handle = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    const { pool, balancer, log } = this.forwarder.state;
    socket.on('error', () => socket.destroy());
    const backend = balancer.pick(pool.candidates);
    if (backend === undefined || this.forwarder.state.shuttingDown) {
      socket.end(UNAVAILABLE);
      return;
    }
    backend.acquire();
    let released = false;
    const release = (): void => {
      if (released) return;
      released = true;
      backend.release();
    };
    socket.once('close', release);
    this.proxy.ws(req, socket, head, { target: backend.url }, (err: Error) => {
      const reason = describeError(err);
      if (classifyUpstreamError(err) === 'unreachable') pool.reportConnectionFailure(backend, reason);
      log.debug({ backend: backend.url, error: reason }, 'upgrade tunnel failed');
      release();
    });
  };
}
