// Header hygiene at the proxy boundary: hop-by-hop headers stay on their hop (RFC 9110 §7.6.1),
// forwarding headers tell the backend who really asked.

import { randomUUID } from 'node:crypto';
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';

const HOP_BY_HOP = new Set([
  'connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade',
  'proxy-authorization', 'proxy-authenticate',
  // Only meaningful with "Upgrade: h2c", which is never passed on.
  'http2-settings',
  // Node answers "Expect: 100-continue" itself; forwarding it would make the backend wait too.
  'expect',
]);

/** Set by sluice from what it saw; a client's own values count only from a trusted proxy. */
const FORWARDED_BY_PROXY = new Set(['x-forwarded-proto', 'x-forwarded-host', 'forwarded']);

/** Extra names listed in a Connection header are hop-by-hop too; Host never is (it is the request's target). */
function connectionTokens(value: string | undefined): Set<string> | undefined {
  if (value === undefined || value === '' || value === 'keep-alive' || value === 'close') return undefined;
  const tokens = new Set<string>();
  for (const token of value.split(',')) tokens.add(token.trim().toLowerCase());
  tokens.delete('host');
  return tokens;
}

export interface UpstreamHeaderOptions {
  /** The scheme the client used ("http" or "https"). */
  proto: string;
  /** The peer is a trusted proxy: its X-Forwarded-Proto/-Host and Forwarded are kept. */
  trusted: boolean;
  /** For a WebSocket tunnel: ask the backend to upgrade too. */
  upgrade?: 'websocket';
}

/**
 * Request headers for the backend as a flat [name, value, ...] list, the one header policy for
 * plain requests and upgrades alike: the client's headers minus hop-by-hop ones, Host kept (or
 * taken from an absolute-form target, RFC 9112 §3.2.2), X-Forwarded-For appended, X-Forwarded-Proto
 * and -Host set unless a trusted proxy set them, X-Request-Id added when absent.
 */
export function upstreamRequestHeaders(req: IncomingMessage, options: UpstreamHeaderOptions): string[] {
  const raw = req.rawHeaders;
  const listed = connectionTokens(req.headers.connection);
  // HTTP/2: the target's authority is :authority (RFC 9113 §8.3.1), which wins over a Host header.
  const authority = req.httpVersionMajor === 2 ? h2Authority(req.headers) : absoluteFormAuthority(req.url);
  const out: string[] = [];
  let forwardedFor: string | undefined;
  let hasRequestId = false;
  let keptProto = false;
  let keptHost = false;
  let hostSent = false;
  let host = req.headers.host;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i];
    // Pseudo-headers (:method, :path, :scheme, :authority) are HTTP/2 framing, never HTTP/1.1 fields.
    if (name.charCodeAt(0) === 58 /* ':' */) continue;
    const lower = name.toLowerCase();
    if (HOP_BY_HOP.has(lower) || (listed !== undefined && listed.has(lower))) continue;
    if (lower === 'x-forwarded-for') {
      forwardedFor = forwardedFor === undefined ? raw[i + 1] : `${forwardedFor}, ${raw[i + 1]}`;
      continue;
    }
    if (FORWARDED_BY_PROXY.has(lower)) {
      if (!options.trusted) continue;
      if (lower === 'x-forwarded-proto') keptProto = true;
      else if (lower === 'x-forwarded-host') keptHost = true;
    } else if (lower === 'host') {
      hostSent = true;
      if (authority !== undefined) {
        host = authority;
        out.push(name, authority);
        continue;
      }
    } else if (lower === 'x-request-id') {
      hasRequestId = true;
    }
    out.push(name, raw[i + 1]);
  }
  if (!hostSent && authority !== undefined) {
    host = authority;
    out.push('host', authority);
  }
  const client = req.socket.remoteAddress ?? '';
  out.push('x-forwarded-for', forwardedFor === undefined ? client : `${forwardedFor}, ${client}`);
  if (!keptProto) out.push('x-forwarded-proto', options.proto);
  if (!keptHost && host !== undefined) out.push('x-forwarded-host', host);
  if (!hasRequestId) out.push('x-request-id', randomUUID());
  if (options.upgrade !== undefined) out.push('connection', 'upgrade', 'upgrade', options.upgrade);
  return out;
}

/**
 * The request has a body to forward. HTTP/1.1 says so in its framing headers; HTTP/2 by not
 * ending the stream with the request head (a body's length need not be announced there).
 */
export function requestHasBody(req: IncomingMessage): boolean {
  const length = req.headers['content-length'];
  if (req.httpVersionMajor === 2) return length === undefined ? !(req as { stream?: { endAfterHeaders?: boolean } }).stream?.endAfterHeaders : length !== '0';
  return req.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
}

/** The scheme the client reached sluice with: "https" over TLS. */
export function schemeOf(req: IncomingMessage): string {
  return (req.socket as { encrypted?: boolean }).encrypted === true ? 'https' : 'http';
}

function h2Authority(headers: IncomingHttpHeaders): string | undefined {
  const value = headers[':authority'];
  return typeof value === 'string' && value !== '' ? value : undefined;
}

/** "http://host:port/p" → "host:port"; undefined for the usual origin form ("/p"). */
function absoluteFormAuthority(url: string | undefined): string | undefined {
  if (url === undefined || url.charCodeAt(0) === 47 /* '/' */ || url === '*') return undefined;
  try {
    const parsed = new URL(url);
    return parsed.host === '' ? undefined : parsed.host;
  } catch {
    return undefined;
  }
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
