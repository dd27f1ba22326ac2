// The access log's cost per line in isolation: AccessLog.exchangeEnded (build the line, batch it,
// write the batches to stdout) for a fixed number of exchanges, stdout being /dev/null (a file, so
// every write really happens, as when users redirect the log to a file).
//   node bench/access-log-micro.ts [TREE] [LINES] [ROUNDS]
// TREE is another checkout (default: this one), to compare before and after in the same
// conditions: run both, alternately, and compare the medians. Prints lines per CPU second per
// request shape (CPU time, not wall time: on a shared machine, time other processes take the core
// is not charged to the access log).

import { spawn } from 'node:child_process';
import { openSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Backend } from '../src/pool/backend.ts';
import type { CompletedExchange, ExchangeObserver } from '../src/observers/exchange.ts';

const ROOT = resolve(import.meta.dirname, '..');

/** Shaped like the proxy's exchange: request fields are getters over the request, as there. */
class FakeExchange implements CompletedExchange {
  readonly req: { method: string; url: string; httpVersion: string; headers: Record<string, string | undefined> };
  readonly socket = { remoteAddress: '127.0.0.1' };
  readonly backend: Backend | undefined;
  readonly status: number;
  readonly attempts = 1;
  readonly upstreamMs: number | undefined;
  readonly totalMs: number;
  readonly bytesIn: number;
  readonly bytesOut: number;
  readonly error: string | undefined;

  constructor(shape: { url: string; headers: Record<string, string | undefined>; backend?: Backend; status?: number; error?: string; totalMs: number; upstreamMs?: number; bytesOut: number }) {
    this.req = { method: 'GET', url: shape.url, httpVersion: '1.1', headers: shape.headers };
    this.backend = shape.backend;
    this.status = shape.status ?? 200;
    this.error = shape.error;
    this.totalMs = shape.totalMs;
    this.upstreamMs = shape.upstreamMs;
    this.bytesIn = 0;
    this.bytesOut = shape.bytesOut;
  }

  get method(): string { return this.req.method; }
  get target(): string { return this.req.url; }
  get host(): string | undefined { return this.req.headers.host; }
  get userAgent(): string | undefined { return this.req.headers['user-agent']; }
  get protocol(): string { return `HTTP/${this.req.httpVersion}`; }
  get remoteAddress(): string | undefined { return this.socket.remoteAddress; }
  get requestId(): string | undefined { return this.req.headers['x-request-id']; }
}

function shapes(): Record<string, FakeExchange[]> {
  const backends = [0, 1, 2].map((i) => ({ url: `http://127.0.0.1:4100${i}`, meta: undefined }) as unknown as Backend);
  const pod = { url: 'http://10.1.2.3:8080', meta: { pod: 'my-app-7c9f8d6b5-x2kqz' } } as unknown as Backend;
  // Distinct ids and durations, as in real traffic (no string is the same line after line).
  const id = (i: number): string => `0b6f1c2e-4d3a-4e8b-9a1f-${String(100000000000 + i).slice(-12)}`;
  const n = 1024;
  const list = (f: (i: number) => FakeExchange): FakeExchange[] => Array.from({ length: n }, (_, i) => f(i));
  return {
    // What wrk sends: no user agent, the id sluice generated.
    small: list((i) => new FakeExchange({ url: '/', headers: { host: '127.0.0.1:8080', 'x-request-id': id(i) }, backend: backends[i % 3], totalMs: 1 + (i % 97) / 37, upstreamMs: 0.5 + (i % 89) / 41, bytesOut: 236 })),
    browser: list((i) => new FakeExchange({
      url: `/api/v1/items?page=${i % 50}&sort=name&filter=active`,
      headers: { host: 'shop.example.com', 'user-agent': 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36', 'x-request-id': id(i) },
      backend: pod, totalMs: 12.3 + i / 100, upstreamMs: 11.9 + i / 100, bytesOut: 5120 + i,
    })),
    // Strings that need escaping: quotes, backslashes, a control character, Latin-1 from a header.
    escaped: list((i) => new FakeExchange({
      url: `/search?q="a\\b"&n=${i}`,
      headers: { host: 'example.com', 'user-agent': 'curl/8.5 \x01 caf\xe9', 'x-request-id': id(i) },
      status: 502, error: 'connect ECONNREFUSED 127.0.0.1:41000', totalMs: 0.4, bytesOut: 120,
    })),
  };
}

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  return s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

async function child(tree: string, lines: number, rounds: number): Promise<void> {
  const { AccessLog } = await import(join(tree, 'src/observers/access-log.ts')) as { AccessLog: new (format: 'json' | 'pretty') => ExchangeObserver & { close(): void } };
  const log = new AccessLog('json');
  const result: Record<string, number> = {};
  for (const [name, list] of Object.entries(shapes())) {
    for (let i = 0; i < 50_000; i++) log.exchangeEnded(list[i & 1023]);
    const perSecond: number[] = [];
    for (let r = 0; r < rounds; r++) {
      const start = process.cpuUsage();
      for (let i = 0; i < lines; i++) log.exchangeEnded(list[i & 1023]);
      const used = process.cpuUsage(start);
      perSecond.push(lines / ((used.user + used.system) / 1e6));
    }
    result[name] = median(perSecond);
  }
  log.close();
  process.send!(result);
}

if (process.argv[2] === '--child') {
  await child(process.argv[3], Number(process.argv[4]), Number(process.argv[5]));
} else {
  const tree = resolve(process.argv[2] ?? ROOT);
  const lines = Number(process.argv[3] ?? 200_000);
  const rounds = Number(process.argv[4] ?? 7);
  const devNull = openSync('/dev/null', 'w');
  const proc = spawn(process.execPath, [import.meta.filename, '--child', tree, String(lines), String(rounds)], { stdio: ['ignore', devNull, 'inherit', 'ipc'] });
  const result = await new Promise<Record<string, number>>((done, fail) => {
    proc.once('message', (m) => done(m as Record<string, number>));
    proc.once('exit', (code) => fail(new Error(`the benchmark child exited with ${code}`)));
  });
  const us = (rate: number): string => (1e6 / rate).toFixed(2);
  process.stdout.write(`${tree}: ${Object.entries(result).map(([k, v]) => `${k} ${Math.round(v).toLocaleString('en')} lines/s (${us(v)} us CPU/line)`).join(', ')}\n`);
}
