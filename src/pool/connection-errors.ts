// A backend connection failure in a few words, the same for probes, traffic and /status.

export function describeError(err: unknown, timeoutMs?: number): string {
  const e = err as { name?: string; code?: string; message?: string; cause?: { code?: string } };
  if (e.name === 'TimeoutError' || e.code === 'UND_ERR_HEADERS_TIMEOUT') return timeoutMs ? `timeout after ${timeoutMs}ms` : 'timeout';
  if (e.code === 'UND_ERR_CONNECT_TIMEOUT') return 'connect timeout';
  const code = e.code ?? e.cause?.code;
  if (code === 'ECONNREFUSED') return 'connection refused';
  if (code === 'ECONNRESET' || code === 'UND_ERR_SOCKET') return 'connection reset';
  return code ?? e.message ?? String(err);
}
