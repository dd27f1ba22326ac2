// The access log: one line per exchange, written to stdout through a buffer that is flushed
// every 4 KB and at least once a second, instead of one write(2) per request. Lines are built
// by hand (only strings that come from the client go through JSON.stringify), in the same JSON
// shape as the rest of the log, or in the pretty format when that was chosen.

import { pino } from 'pino';
import type { CompletedExchange, ExchangeObserver } from './exchange.ts';
import type { LogFormat } from '../log.ts';

const FLUSH_EVERY_MS = 1000;

export class AccessLog implements ExchangeObserver {
  private readonly out: ReturnType<typeof pino.destination>;
  private readonly format: LogFormat;
  private readonly timer: NodeJS.Timeout;
  private readonly pid = process.pid;

  constructor(format: LogFormat) {
    this.format = format;
    this.out = pino.destination({ dest: 1, minLength: 4096, sync: false });
    this.timer = setInterval(() => this.flush(), FLUSH_EVERY_MS);
    this.timer.unref();
  }

  exchangeEnded(x: CompletedExchange): void {
    this.out.write(this.format === 'pretty' ? prettyLine(x) : jsonLine(x, this.pid));
  }

  flush(): void {
    try {
      this.out.flush();
    } catch {
      // Nothing buffered yet (sonic-boom refuses to flush before its fd is ready).
    }
  }

  /** Shutdown: write out what is buffered. */
  close(): void {
    clearInterval(this.timer);
    try {
      this.out.flushSync();
    } catch {
      // A write already in progress finishes on its own.
    }
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
