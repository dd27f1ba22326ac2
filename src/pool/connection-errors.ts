// One table for what a failed connection or exchange means, shared by the proxy, the prober and
// the tunnel: whose fault it is decides whether a backend is blamed.

/**
 * local: sluice itself is out of a resource (descriptors, ports): never the backend's fault.
 * unreachable: no connection could be made (refused, connect timeout, no route): eject at once.
 * unprocessed: sent, but the backend says it did not process it (HTTP/2 GOAWAY beyond its last
 *   stream, REFUSED_STREAM): safe to send anywhere again, whatever the method; not a failure.
 * reset: the connection died after the request was sent (reset, premature close): counted.
 * malformed: the backend answered with something that is not valid HTTP: counted.
 * timeout: no response head in time: counted.
 * rejected: the client's request cannot be forwarded as it is: nobody's fault upstream.
 * failed: anything else.
 */
export type FailureKind = 'local' | 'unreachable' | 'unprocessed' | 'reset' | 'malformed' | 'timeout' | 'rejected' | 'failed';

const KIND_BY_CODE: Record<string, FailureKind> = {
  EMFILE: 'local', ENFILE: 'local', EADDRNOTAVAIL: 'local', ENOBUFS: 'local', ENOMEM: 'local',
  ECONNREFUSED: 'unreachable', EHOSTUNREACH: 'unreachable', ENETUNREACH: 'unreachable', EHOSTDOWN: 'unreachable',
  ENETDOWN: 'unreachable', ENOTFOUND: 'unreachable', EAI_AGAIN: 'unreachable', ETIMEDOUT: 'unreachable',
  UND_ERR_CONNECT_TIMEOUT: 'unreachable', SLUICE_CONNECT_TIMEOUT: 'unreachable',
  ECONNRESET: 'reset', EPIPE: 'reset', SLUICE_PREMATURE_CLOSE: 'reset', UND_ERR_SOCKET: 'reset', UND_ERR_CLOSED: 'reset',
  UND_ERR_HEADERS_TIMEOUT: 'timeout', SLUICE_RESPONSE_TIMEOUT: 'timeout',
  UND_ERR_INVALID_ARG: 'rejected', UND_ERR_NOT_SUPPORTED: 'rejected',
  SLUICE_BAD_RESPONSE: 'malformed', HPE_INVALID_STATUS: 'malformed', HPE_INVALID_CONSTANT: 'malformed',
  HPE_INVALID_HEADER_TOKEN: 'malformed', HPE_INVALID_CONTENT_LENGTH: 'malformed', HPE_UNEXPECTED_CONTENT_LENGTH: 'malformed',
  HPE_INVALID_CHUNK_SIZE: 'malformed', HPE_INVALID_TRANSFER_ENCODING: 'malformed', HPE_CR_EXPECTED: 'malformed',
  HPE_LF_EXPECTED: 'malformed', HPE_HEADER_OVERFLOW: 'malformed', UND_ERR_RES_CONTENT_LENGTH_MISMATCH: 'malformed',
};

/**
 * Codes that mean `unprocessed` when the message says so: undici 8.13 surfaces these HTTP/2 cases
 * only in words (RFC 9113 §6.8: streams above a GOAWAY's last stream id were not processed; §8.7:
 * REFUSED_STREAM, and HEADERS that never left because a GOAWAY came first). A stream the backend
 * did process and then lost fails with other words, and stays `reset`.
 */
const UNPROCESSED_BY_CODE: Record<string, RegExp> = {
  // GOAWAY with NO_ERROR (a draining backend); undici fails the streams above its last stream id with it.
  UND_ERR_INFO: /^HTTP\/2: "GOAWAY" frame received|^HTTP\/2: "frameError" received - type 1,/,
  // GOAWAY with an error code: the same streams, as a SocketError.
  UND_ERR_SOCKET: /^HTTP\/2: "GOAWAY" frame received/,
  // RST_STREAM(REFUSED_STREAM) from Node's http2, which undici passes on for bodies it cannot replay.
  ERR_HTTP2_STREAM_ERROR: /NGHTTP2_REFUSED_STREAM/,
};

/** A failure sluice itself detects (its timeouts, a bad or missing answer), coded for the table above. */
export class ConnectionError extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.code = code;
  }
}

/** The error's string code, or its cause's (DOMExceptions such as TimeoutError have numeric codes). */
function codeOf(err: unknown): string | undefined {
  const e = err as { code?: unknown; cause?: { code?: unknown } } | undefined;
  if (typeof e?.code === 'string') return e.code;
  return typeof e?.cause?.code === 'string' ? e.cause.code : undefined;
}

export function classifyFailure(err: unknown): FailureKind {
  const code = codeOf(err);
  const unprocessed = code === undefined ? undefined : UNPROCESSED_BY_CODE[code];
  if (unprocessed?.test((err as { message?: string }).message ?? '')) return 'unprocessed';
  const kind = code === undefined ? undefined : KIND_BY_CODE[code];
  if (kind !== undefined) return kind;
  if (code?.startsWith('HPE_')) return 'malformed';
  if ((err as { name?: string }).name === 'TimeoutError') return 'timeout';
  // Happy-eyeballs connects fail with an AggregateError of per-address errors.
  if (err instanceof AggregateError) {
    const kinds = err.errors.map(classifyFailure);
    if (kinds.includes('local')) return 'local';
    if (kinds.includes('unreachable')) return 'unreachable';
  }
  // undici's parser errors and "bad response" socket errors say so only in the message.
  const message = (err as { message?: string }).message ?? '';
  if (/bad response|bad upgrade|invalid status|Response does not match/i.test(message)) return 'malformed';
  return 'failed';
}

/** A backend connection failure in a few words, the same for probes, traffic and /status. */
export function describeError(err: unknown, timeoutMs?: number): string {
  const e = err as { name?: string; message?: string };
  const code = codeOf(err);
  if (e.name === 'TimeoutError' || code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'SLUICE_RESPONSE_TIMEOUT') return timeoutMs ? `timeout after ${timeoutMs}ms` : 'timeout';
  if (code === 'UND_ERR_CONNECT_TIMEOUT' || code === 'SLUICE_CONNECT_TIMEOUT') return 'connect timeout';
  if (code === 'ECONNREFUSED') return 'connection refused';
  if (classifyFailure(err) === 'unprocessed') {
    return /REFUSED_STREAM/.test(e.message ?? '') ? 'stream refused, not processed (REFUSED_STREAM)' : 'not processed: the backend is closing the connection (GOAWAY)';
  }
  if (code === 'SLUICE_PREMATURE_CLOSE') return 'connection closed before the response';
  if (code === 'ECONNRESET' || code === 'UND_ERR_SOCKET') return /other side closed/.test(e.message ?? '') ? 'connection closed before the response' : 'connection reset';
  if (code === 'EMFILE' || code === 'ENFILE') return `sluice is out of file descriptors (${code})`;
  if (code === 'EADDRNOTAVAIL') return 'sluice is out of local ports (EADDRNOTAVAIL)';
  if (classifyFailure(err) === 'malformed') return `malformed response${e.message ? `: ${e.message}` : ''}`;
  return code ?? e.message ?? String(err);
}
