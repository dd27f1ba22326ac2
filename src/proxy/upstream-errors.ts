// What the client is told when sluice, not the backend, has to answer.

import type { ServerResponse } from 'node:http';

export type ErrorStatus = 400 | 502 | 503 | 504;

const BODIES: Record<ErrorStatus, string> = {
  400: 'Bad Request: the request cannot be forwarded.\n',
  502: 'Bad Gateway: the backend could not be reached or failed.\n',
  503: 'Service Unavailable: no healthy backend.\n',
  504: 'Gateway Timeout: the backend did not answer in time.\n',
};

/** Seconds a client is asked to wait after a 503 for lack of capacity. */
const RETRY_AFTER_SECONDS = '1';

/** Answers with a short plain-text error, or cuts the connection when headers were already sent. */
export function sendError(res: ServerResponse, status: ErrorStatus, retryAfter = false): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  if (res.destroyed) return;
  if (isGrpc(res)) {
    sendGrpcError(res, status);
    return;
  }
  const body = BODIES[status];
  const headers: Record<string, string | number> = { 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(body), 'cache-control': 'no-store' };
  if (retryAfter) headers['retry-after'] = RETRY_AFTER_SECONDS;
  res.writeHead(status, headers);
  res.end(body);
}

/** gRPC status codes for what sluice answers itself (gRPC's HTTP-to-gRPC mapping; a timeout is DEADLINE_EXCEEDED). */
const GRPC_STATUS: Record<ErrorStatus, number> = { 400: 13, 502: 14, 503: 14, 504: 4 };

function isGrpc(res: ServerResponse): boolean {
  const type = res.req?.headers['content-type'];
  return typeof type === 'string' && type.startsWith('application/grpc');
}

/** A gRPC client reads status from grpc-status, not from HTTP: 200 and a trailers-only answer. */
function sendGrpcError(res: ServerResponse, status: ErrorStatus): void {
  const message = BODIES[status].trim();
  res.writeHead(200, {
    'content-type': 'application/grpc',
    'grpc-status': String(GRPC_STATUS[status]),
    // Percent-encoded are only '%' and bytes outside printable ASCII (the gRPC HTTP/2 spec).
    'grpc-message': message.replace(/[^\x20-\x24\x26-\x7e]/g, (c) => encodeURIComponent(c)),
  });
  res.end();
}

const REASONS: Record<ErrorStatus, string> = { 400: 'Bad Request', 502: 'Bad Gateway', 503: 'Service Unavailable', 504: 'Gateway Timeout' };

/** The same answer as sendError, for a raw socket (an upgrade that could not be forwarded). */
export function rawErrorResponse(status: ErrorStatus, retryAfter = false): string {
  return rawResponse(status, REASONS[status], BODIES[status], retryAfter ? `Retry-After: ${RETRY_AFTER_SECONDS}\r\n` : '');
}

/** A complete HTTP/1.1 response for a raw socket (client errors, refused upgrades), closing the connection. */
export function rawResponse(status: number, reason: string, body: string, extra = ''): string {
  return `HTTP/1.1 ${status} ${reason}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\n${extra}Connection: close\r\n\r\n${body}`;
}
