// The access log: one line per exchange, written to stdout in batches of about 16 KB (and at
// least once a second) instead of one write per request. Lines are built by hand in the same JSON
// shape as the rest of the log (or in the pretty format when that was chosen), byte for byte what
// JSON.stringify would make of them: a string from the client goes through JSON.stringify only
// when it holds a character that needs escaping, and the time text is made once per millisecond,
// not once per line. The batching is our own: pino's destination re-measures its whole pending
// buffer on every write, which cost more per request than building the line.
//
// stdout is a file or a terminal (Node writes those synchronously) or a pipe (container logs),
// which Node writes asynchronously, buffering whatever the reader has not taken yet. A reader that
// falls behind must not grow our memory without bound: past `maxBufferedChars` waiting in stdout,
// lines are counted instead of kept (HAProxy drops log lines the same way rather than block
// traffic), and once stdout has drained, one line says how many were dropped.

import type { Writable } from 'node:stream';
import type { CompletedExchange, ExchangeObserver } from './exchange.ts';
import { prettify, type LogFormat } from '../log.ts';

const FLUSH_EVERY_MS = 1000;
const BATCH_CHARS = 16 * 1024;
/** About 12,000 lines: over half a second of a busy core's log, a stall a healthy reader never reaches. */
const MAX_BUFFERED_CHARS = 4 * 1024 * 1024;

export interface AccessLogOptions {
  /** Where lines go (default stdout). */
  out?: Writable;
  /** Characters waiting in `out` past which lines are dropped and counted (default 4 Mi). */
  maxBufferedChars?: number;
}

export class AccessLog implements ExchangeObserver {
  private readonly format: LogFormat;
  private readonly out: Writable;
  private readonly maxBufferedChars: number;
  private readonly timer: NodeJS.Timeout;
  private readonly pid = process.pid;
  private pending = '';
  /** `out` holds too much: lines are dropped (counted) until it drains. */
  private stalled = false;
  private dropped = 0;
  /** The millisecond `stamp` was made for: the head of a JSON line up to `"method":`, or the pretty time. */
  private stampMs = -1;
  private stamp = '';

  constructor(format: LogFormat, options: AccessLogOptions = {}) {
    this.format = format;
    this.out = options.out ?? process.stdout;
    this.maxBufferedChars = options.maxBufferedChars ?? MAX_BUFFERED_CHARS;
    this.timer = setInterval(() => this.flush(), FLUSH_EVERY_MS);
    this.timer.unref();
  }

  exchangeEnded(x: CompletedExchange): void {
    if (this.stalled) {
      this.dropped++;
      return;
    }
    this.pending += this.format === 'pretty' ? this.prettyLine(x) : this.jsonLine(x);
    if (this.pending.length >= BATCH_CHARS) this.flush();
  }

  flush(): void {
    if (this.stalled || this.pending === '') return;
    // writableNeedDrain too: without it no 'drain' would come to end the stall.
    if (this.out.writableLength >= this.maxBufferedChars && this.out.writableNeedDrain) {
      this.stalled = true;
      this.out.once('drain', this.resume);
      return;
    }
    this.out.write(this.pending);
    this.pending = '';
  }

  /** Shutdown: hand stdout what is pending, also past the limit (one batch, the last). */
  close(): void {
    clearInterval(this.timer);
    this.out.off('drain', this.resume);
    this.stalled = false;
    this.noteDropped();
    if (this.pending !== '') this.out.write(this.pending);
    this.pending = '';
  }

  private readonly resume = (): void => {
    this.stalled = false;
    this.noteDropped();
    this.flush();
  };

  private noteDropped(): void {
    if (this.dropped === 0) return;
    const line = `{"level":"warn","time":"${new Date().toISOString()}","pid":${this.pid},"msg":"access lines dropped","dropped":${this.dropped},"reason":"stdout was not keeping up"}\n`;
    this.pending += this.format === 'pretty' ? prettify(line) : line;
    this.dropped = 0;
  }

  private jsonLine(x: CompletedExchange): string {
    const now = Date.now();
    if (now !== this.stampMs) {
      this.stampMs = now;
      this.stamp = `{"level":"info","time":"${new Date(now).toISOString()}","pid":${this.pid},"msg":"access","method":`;
    }
    const backend = x.backend;
    const pod = backend?.meta?.pod;
    const error = x.error;
    return `${this.stamp}${str(x.method)},"path":${str(x.target)},"status":${x.status},"backend":${backend === undefined ? 'null' : `"${backend.url}"`}`
      + `${pod === undefined ? '' : `,"pod":${str(pod)}`},"attempts":${x.attempts},"durationMs":${ms(x.totalMs)},"upstreamMs":${ms(x.upstreamMs)}`
      + `,"bytesIn":${x.bytesIn},"bytesOut":${x.bytesOut},"protocol":"${x.protocol}","host":${str(x.host)},"userAgent":${str(x.userAgent)}`
      + `,"remote":${str(x.remoteAddress)},"requestId":${str(x.requestId)}${error === undefined ? '' : `,"error":${str(error)}`}}\n`;
  }

  private prettyLine(x: CompletedExchange): string {
    const now = Date.now();
    if (now !== this.stampMs) {
      this.stampMs = now;
      this.stamp = new Date(now).toISOString().slice(11, 23);
    }
    return `${this.stamp} ${x.status} ${x.method} ${x.target} → ${x.backend?.url ?? '-'} ${ms(x.totalMs)}ms`
      + ` ${x.bytesOut}B${x.attempts > 1 ? ` attempts=${x.attempts}` : ''}${x.error !== undefined ? ` error="${x.error}"` : ''} id=${x.requestId ?? '-'}\n`;
  }
}

/** What JSON.stringify escapes: quotes, backslashes, control characters, lone surrogates (here any surrogate: rare, and then JSON.stringify decides). */
const NEEDS_ESCAPE = /["\\\u0000-\u001f\ud800-\udfff]/;

function str(value: string | undefined): string {
  return value === undefined ? 'null' : NEEDS_ESCAPE.test(value) ? JSON.stringify(value) : `"${value}"`;
}

/** Milliseconds to one decimal, the text String(Math.round(value * 10) / 10) makes, without a float-to-text conversion. */
function ms(value: number | undefined): string {
  if (value === undefined) return 'null';
  const tenths = Math.round(value * 10);
  if (!(tenths >= 0 && tenths <= 1e15)) return String(tenths / 10);
  const digit = tenths % 10;
  return digit === 0 ? `${tenths / 10}` : `${(tenths - digit) / 10}.${digit}`;
}
