// pino on stdout, one event per line: JSON for machines, or a short human format (chosen with
// --log-format pretty, and by default when stdout is a terminal) that needs no extra tool.

import { Writable } from 'node:stream';
import { pino, type Logger, type LevelWithSilent } from 'pino';

export const LOG_LEVELS: readonly LevelWithSilent[] = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'];
export type LogFormat = 'json' | 'pretty';
export const LOG_FORMATS: readonly LogFormat[] = ['json', 'pretty'];

export function defaultLogFormat(): LogFormat {
  return process.stdout.isTTY ? 'pretty' : 'json';
}

export function createLogger(level: LevelWithSilent, format: LogFormat = 'json'): Logger {
  const options = {
    level,
    base: { pid: process.pid },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label: string) => ({ level: label }) },
  };
  // process.stdout, not pino's default writer (sonic-boom on fd 1): the access log writes through
  // process.stdout, and on a full pipe sonic-boom's retried write could land inside an access
  // batch libuv had only partly written; one ordered stream also lets the exit wait for both.
  return pino(options, format === 'pretty' ? new PrettyLines() : process.stdout);
}

const LEVEL_WIDTH = 5;
const COLOUR: Record<string, string> = { warn: '\x1b[33m', error: '\x1b[31m', fatal: '\x1b[31m', debug: '\x1b[2m', trace: '\x1b[2m' };

/** Turns each JSON line into "12:00:01.123 WARN  backend state changed backend=… state=…". */
class PrettyLines extends Writable {
  private readonly colour = process.stdout.isTTY === true;

  override _write(chunk: Buffer | string, _encoding: BufferEncoding, done: (error?: Error | null) => void): void {
    process.stdout.write(prettify(String(chunk), this.colour), () => done());
  }
}

export function prettify(line: string, colour = false): string {
  let event: Record<string, unknown>;
  try {
    event = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return line;
  }
  const { level, time, msg, pid: _pid, hostname: _host, ...fields } = event;
  const label = String(level ?? 'info');
  const head = `${String(time ?? '').slice(11, 23)} ${label.toUpperCase().padEnd(LEVEL_WIDTH)} ${String(msg ?? '')}`;
  let rest = '';
  for (const [key, value] of Object.entries(fields)) {
    if (value === undefined) continue;
    const text = typeof value === 'string' ? (/[\s"=]/.test(value) ? JSON.stringify(value) : value) : JSON.stringify(value);
    rest += ` ${key}=${text}`;
  }
  const out = head + rest + '\n';
  const c = colour ? COLOUR[label] : undefined;
  return c === undefined ? out : `${c}${out}\x1b[0m`;
}
