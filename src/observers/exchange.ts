// The one seam between the proxy and whatever watches it (access log, metrics): at the end of
// each exchange, every observer gets a read-only view of it. The view is the exchange itself,
// so observing allocates nothing per request.

import type { Backend } from '../pool/backend.ts';

export interface CompletedExchange {
  readonly method: string;
  /** The request target as the client sent it. */
  readonly target: string;
  readonly host: string | undefined;
  readonly userAgent: string | undefined;
  readonly protocol: string;
  readonly remoteAddress: string | undefined;
  readonly requestId: string | undefined;
  /** The backend of the last attempt, if any was picked. */
  readonly backend: Backend | undefined;
  /** What the client got: a status code, or 499 when it left before the response was done. */
  readonly status: number;
  readonly attempts: number;
  /** Milliseconds from the request head to the backend's response head; undefined without one. */
  readonly upstreamMs: number | undefined;
  readonly totalMs: number;
  /** Body bytes read from the client, and bytes written to it (head included). */
  readonly bytesIn: number;
  readonly bytesOut: number;
  readonly error: string | undefined;
}

export interface ExchangeObserver {
  exchangeEnded(exchange: CompletedExchange): void;
}
