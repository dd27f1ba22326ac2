// Header hygiene at the proxy boundary: hop-by-hop headers stay on their hop (RFC 9110 §7.6.1),
// forwarding headers tell the backend who really asked.

import { randomUUID } from 'node:crypto';
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';

const HOP_BY_HOP = new Set([
  'connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade',
  'proxy-authorization', 'proxy-authenticate',
  // Node answers "Expect: 100-continue" itself; forwarding it would make the backend wait too.
  'expect',
]);

const FORWARDING = new Set(['x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host']);

/** Extra names listed in a Connection header are hop-by-hop too. */
function connectionTokens(value: string | undefined): Set<string> | undefined {
  if (value === undefined || value === '' || value === 'keep-alive' || value === 'close') return undefined;
  const tokens = new Set<string>();
  for (const token of value.split(',')) tokens.add(token.trim().toLowerCase());
  return tokens;
}

/**
 * Request headers for the backend as a flat [name, value, ...] list: the client's headers minus
 * hop-by-hop ones, Host kept, X-Forwarded-* set, X-Request-Id added when absent.
 */
export function upstreamRequestHeaders(req: IncomingMessage, proto: string): string[] {
  const raw = req.rawHeaders;
  const listed = connectionTokens(req.headers.connection);
  const out: string[] = [];
  let forwardedFor: string | undefined;
  let hasRequestId = false;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i];
    const lower = name.toLowerCase();
    if (HOP_BY_HOP.has(lower) || (listed !== undefined && listed.has(lower))) continue;
    if (FORWARDING.has(lower)) {
      if (lower === 'x-forwarded-for') forwardedFor = forwardedFor === undefined ? raw[i + 1] : `${forwardedFor}, ${raw[i + 1]}`;
      continue;
    }
    if (lower === 'x-request-id') hasRequestId = true;
    out.push(name, raw[i + 1]);
  }
  const client = req.socket.remoteAddress ?? '';
  out.push('x-forwarded-for', forwardedFor === undefined ? client : `${forwardedFor}, ${client}`);
  out.push('x-forwarded-proto', proto);
  if (req.headers.host !== undefined) out.push('x-forwarded-host', req.headers.host);
  if (!hasRequestId) out.push('x-request-id', randomUUID());
  return out;
}

/**
 * Response headers for the client as a flat [name, value, ...] list for writeHead: the backend's
 * minus hop-by-hop ones. A list, not `delete` on the parsed object: deleting turns the object into
 * a slow dictionary that writeHead then walks, and writeHead takes a flat list without a key walk.
 */
export function downstreamResponseHeaderList(headers: IncomingHttpHeaders): (string | string[])[] {
  const connection = headers.connection;
  const listed = connection === undefined ? undefined : connectionTokens(Array.isArray(connection) ? connection.join(',') : connection);
  const out: (string | string[])[] = [];
  for (const name in headers) {
    const value = headers[name];
    if (value === undefined || HOP_BY_HOP.has(name) || (listed !== undefined && listed.has(name))) continue;
    out.push(name, value);
  }
  return out;
}
