// One HTTP/1.1 health check on a connection of its own: connect, send the GET, read the status
// line, close (what HAProxy's httpchk does). Probes of HTTP/1.1 backends use this instead of an
// undici pool: a pool, a client and a parser made and dropped per probe were most of the memory a
// large backend set cost at idle (1,000 backends every 10 s: ~30 KB promoted to the old
// generation per probe). Only the status decides; the body is never read.

import { connect as connectTcp, isIP, type Socket } from 'node:net';
import { connect as connectTls } from 'node:tls';
import type { UpstreamTls } from '../pool/backend.ts';
import { ConnectionError } from '../pool/connection-errors.ts';

/** More than any status line and the headers of a 1xx before it. */
const MAX_HEAD_BYTES = 16 * 1024;

export interface Http1ProbeOptions {
  url: string;
  path: string;
  timeoutMs: number;
  /** For https:// backends (upstream.tls), as traffic uses it. */
  tls?: UpstreamTls;
}

/** The status code of the backend's final (non-1xx) answer; rejects with a classifiable error. */
export function probeHttp1({ url, path, timeoutMs, tls }: Http1ProbeOptions): Promise<number> {
  const target = new URL(url);
  const secure = target.protocol === 'https:';
  const host = target.hostname.startsWith('[') ? target.hostname.slice(1, -1) : target.hostname;
  const port = Number(target.port) || (secure ? 443 : 80);
  const request = `GET ${path} HTTP/1.1\r\nHost: ${target.host}\r\nUser-Agent: sluice-health-check\r\nConnection: close\r\n\r\n`;

  return new Promise<number>((resolve, reject) => {
    let socket: Socket;
    let head = '';
    let settled = false;
    const finish = (err: Error | undefined, status?: number): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      if (err) reject(err);
      else resolve(status!);
    };
    const timer = setTimeout(() => finish(new ConnectionError('SLUICE_RESPONSE_TIMEOUT', `no answer within ${timeoutMs}ms`)), timeoutMs);

    if (secure) {
      socket = connectTls({
        host, port,
        servername: tls?.servername ?? (isIP(host) === 0 ? host : undefined),
        ALPNProtocols: ['http/1.1'],
        ...(tls ? { ca: tls.ca, cert: tls.cert, key: tls.key, rejectUnauthorized: tls.rejectUnauthorized } : {}),
      }, () => socket.write(request));
    } else {
      socket = connectTcp({ host, port, noDelay: true }, () => socket.write(request));
    }
    socket.setEncoding('latin1');
    socket.on('error', (err) => finish(err));
    const closedEarly = (): void => finish(new ConnectionError('SLUICE_PREMATURE_CLOSE', 'other side closed before the status line'));
    socket.on('end', closedEarly);
    socket.on('close', closedEarly);
    socket.on('data', (chunk: string) => {
      head += chunk;
      for (;;) {
        const lineEnd = head.indexOf('\r\n');
        if (lineEnd === -1) break;
        const match = /^HTTP\/1\.[01] ([1-5]\d\d)(?: |$)/.exec(head.slice(0, lineEnd));
        if (match === null) return finish(new ConnectionError('SLUICE_BAD_RESPONSE', `not an HTTP/1.1 status line: ${JSON.stringify(head.slice(0, Math.min(lineEnd, 64)))}`));
        const status = Number(match[1]);
        if (status >= 200) return finish(undefined, status);
        // 1xx: an interim answer; the final one follows its (empty or not) header block.
        const headEnd = head.indexOf('\r\n\r\n');
        if (headEnd === -1) break;
        head = head.slice(headEnd + 4);
      }
      if (head.length > MAX_HEAD_BYTES) finish(new ConnectionError('SLUICE_BAD_RESPONSE', 'no status line in the first 16 KB'));
    });
  });
}
