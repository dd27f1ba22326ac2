// What went wrong upstream, and what the client is told about it.

import type { ServerResponse } from 'node:http';

/**
 * unreachable: no usable connection (retry elsewhere, eject); timeout: no answer in time;
 * rejected: the client's request cannot be forwarded as it is (not the backend's fault);
 * failed: anything else.
 */
export type UpstreamFailure = 'unreachable' | 'timeout' | 'rejected' | 'failed';

const UNREACHABLE = new Set([
  'ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH', 'EHOSTDOWN', 'ENETDOWN',
  'EADDRNOTAVAIL', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT', 'UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_SOCKET', 'UND_ERR_CLOSED',
]);

export function classifyUpstreamError(err: Error): UpstreamFailure {
  const code = (err as { code?: string }).code ?? (err.cause as { code?: string } | undefined)?.code;
  if (code === 'UND_ERR_HEADERS_TIMEOUT') return 'timeout';
  if (code === 'UND_ERR_INVALID_ARG' || code === 'UND_ERR_NOT_SUPPORTED') return 'rejected';
  if (code !== undefined && UNREACHABLE.has(code)) return 'unreachable';
  // Happy-eyeballs connects fail with an AggregateError of per-address errors.
  if (err instanceof AggregateError && err.errors.some((e) => UNREACHABLE.has((e as { code?: string }).code ?? ''))) return 'unreachable';
  return 'failed';
}

const BODIES: Record<number, string> = {
  400: 'Bad Request: the request cannot be forwarded.\n',
  502: 'Bad Gateway: the backend could not be reached or failed.\n',
  503: 'Service Unavailable: no healthy backend.\n',
  504: 'Gateway Timeout: the backend did not answer in time.\n',
};

/** Answers with a short plain-text error, or cuts the connection when headers were already sent. */
export function sendError(res: ServerResponse, status: 400 | 502 | 503 | 504): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  if (res.destroyed) return;
  const body = BODIES[status];
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(body), 'cache-control': 'no-store' });
  res.end(body);
}
