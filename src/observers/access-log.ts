// The access log: one line per exchange, written to stdout in batches of about 16 KB (and at
// least once a second) instead of one write per request. Lines are built by hand (only strings
// that come from the client go through JSON.stringify), in the same JSON shape as the rest of the
// log, or in the pretty format when that was chosen. The batching is our own: pino's
// destination re-measures its whole pending buffer on every write, which cost more per request
// than building the line.

import type { CompletedExchange, ExchangeObserver } from './exchange.ts';
import type { LogFormat } from '../log.ts';

const FLUSH_EVERY_MS = 1000;
const BATCH_CHARS = 16 * 1024;

export class AccessLog implements ExchangeObserver {
  private readonly format: LogFormat;
  private readonly timer: NodeJS.Timeout;
  private readonly pid = process.pid;
  private pending = '';

  constructor(format: LogFormat) {
    this.format = format;
    this.timer = setInterval(() => this.flush(), FLUSH_EVERY_MS);
    this.timer.unref();
  }

  exchangeEnded(x: CompletedExchange): void {
    this.pending += this.format === 'pretty' ? prettyLine(x) : jsonLine(x, this.pid);
    if (this.pending.length >= BATCH_CHARS) this.flush();
  }

  flush(): void {
    if (this.pending === '') return;
    // stdout is a file, a pipe (container logs) or a terminal; Node writes each the right way.
    process.stdout.write(this.pending);
    this.pending = '';
  }

  /** Shutdown: write out what is pending. */
  close(): void {
    clearInterval(this.timer);
    this.flush();
  }
}

function str(value: string | undefined): string {
  return value === undefined ? 'null' : JSON.stringify(value);
}

function ms(value: number | undefined): string {
  return value === undefined ? 'null' : String(Math.round(value * 10) / 10);
}

function jsonLine(x: CompletedExchange, pid: number): string {
  const backend = x.backend;
  return `{"level":"info","time":"${new Date().toISOString()}","pid":${pid},"msg":"access","method":${str(x.method)},"path":${str(x.target)}`
    + `,"status":${x.status},"backend":${backend === undefined ? 'null' : `"${backend.url}"`}`
    + (backend?.meta?.pod !== undefined ? `,"pod":${str(backend.meta.pod)}` : '')
    + `,"attempts":${x.attempts},"durationMs":${ms(x.totalMs)},"upstreamMs":${ms(x.upstreamMs)}`
    + `,"bytesIn":${x.bytesIn},"bytesOut":${x.bytesOut},"protocol":"${x.protocol}","host":${str(x.host)}`
    + `,"userAgent":${str(x.userAgent)},"remote":${str(x.remoteAddress)},"requestId":${str(x.requestId)}`
    + (x.error !== undefined ? `,"error":${str(x.error)}` : '') + '}\n';
}

function prettyLine(x: CompletedExchange): string {
  const time = new Date().toISOString().slice(11, 23);
  return `${time} ${x.status} ${x.method} ${x.target} → ${x.backend?.url ?? '-'} ${ms(x.totalMs)}ms`
    + ` ${x.bytesOut}B${x.attempts > 1 ? ` attempts=${x.attempts}` : ''}${x.error !== undefined ? ` error="${x.error}"` : ''} id=${x.requestId ?? '-'}\n`;
}
