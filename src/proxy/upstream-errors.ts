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
    if (isGrpc(res) && res.req?.httpVersionMajor === 2 && !res.writableEnded && !res.destroyed) endGrpcCall(res, status);
    else res.destroy();
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
    'grpc-message': grpcMessage(message),
  });
  res.end();
}

/**
 * A gRPC call already answering (a stream) whose backend failed or ran out of time: its trailers
 * can still carry a status, so the caller reads UNAVAILABLE (or DEADLINE_EXCEEDED) and why, as
 * from a connection lost under a direct call, not a stream reset it can only call INTERNAL.
 */
function endGrpcCall(res: ServerResponse, status: ErrorStatus): void {
  res.addTrailers({ 'grpc-status': String(GRPC_STATUS[status]), 'grpc-message': grpcMessage(MID_CALL[status]) });
  res.end();
}

const MID_CALL: Record<ErrorStatus, string> = {
  400: 'the call cannot be forwarded',
  502: 'the backend failed during the call',
  503: 'no healthy backend',
  504: 'the backend did not answer in time',
};

/** Percent-encoded are only '%' and bytes outside printable ASCII (the gRPC HTTP/2 spec). */
function grpcMessage(text: string): string {
  return text.replace(/[^\x20-\x24\x26-\x7e]/g, (c) => encodeURIComponent(c));
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
