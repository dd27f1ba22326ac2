import { expect } from 'chai';
import { once } from 'node:events';
import { Writable } from 'node:stream';
import { AccessLog } from '../../src/observers/access-log.ts';
import type { CompletedExchange } from '../../src/observers/exchange.ts';
import type { Backend } from '../../src/pool/backend.ts';

/** Keeps the bytes written (as stdout would get them); while `stalled`, it does not finish writes, like a pipe nobody reads. */
class Capture extends Writable {
  /** One entry per write. */
  readonly chunks: Buffer[] = [];
  stalled = false;
  private held: (() => void)[] = [];

  override _write(chunk: Buffer, _encoding: BufferEncoding, done: () => void): void {
    this.chunks.push(Buffer.from(chunk));
    if (this.stalled) this.held.push(done);
    else done();
  }

  release(): void {
    this.stalled = false;
    for (const done of this.held.splice(0)) done();
  }

  get text(): string {
    return Buffer.concat(this.chunks).toString('utf8');
  }

  get lines(): string[] {
    return this.text.split('\n').slice(0, -1);
  }
}

function backend(url: string, pod?: string): Backend {
  return { url, meta: pod === undefined ? undefined : { pod } } as unknown as Backend;
}

function exchange(fields: Partial<CompletedExchange> = {}): CompletedExchange {
  return {
    method: 'GET', target: '/', host: 'example.test', userAgent: undefined, protocol: 'HTTP/1.1', remoteAddress: '127.0.0.1',
    requestId: 'id-1', backend: backend('http://127.0.0.1:8081'), status: 200, attempts: 1, upstreamMs: 1.23, totalMs: 2.34,
    bytesIn: 0, bytesOut: 236, error: undefined, ...fields,
  };
}

/** The line as JSON.stringify makes it from the exchange: the format users' pipelines read. */
function expectedLine(x: CompletedExchange, time: string): string {
  const round = (v: number): number => Math.round(v * 10) / 10;
  return JSON.stringify({
    level: 'info', time, pid: process.pid, msg: 'access', method: x.method, path: x.target, status: x.status,
    backend: x.backend?.url ?? null, ...(x.backend?.meta?.pod !== undefined ? { pod: x.backend.meta.pod } : {}),
    attempts: x.attempts, durationMs: round(x.totalMs), upstreamMs: x.upstreamMs === undefined ? null : round(x.upstreamMs),
    bytesIn: x.bytesIn, bytesOut: x.bytesOut, protocol: x.protocol, host: x.host ?? null, userAgent: x.userAgent ?? null,
    remote: x.remoteAddress ?? null, requestId: x.requestId ?? null, ...(x.error !== undefined ? { error: x.error } : {}),
  }) + '\n';
}

const CONTROL = Array.from({ length: 32 }, (_, i) => String.fromCharCode(i)).join('');
/** Strings a client can put in a request, and what JSON must escape or keep. */
const AWKWARD = [
  '', 'plain', '"quoted"', 'back\\slash', '\\"', `a${CONTROL}b`, ...Array.from(CONTROL, (c) => `only ${c} here`), 'tab\there', 'line\nbreak\r\n', 'del\x7f',
  'caf\xe9 \xff', 'café ünïcödé', '中文/路径', 'emoji 😀', 'lone \ud800 high', 'lone \udfff low', 'swapped \udfff\ud800',
  'separators \u2028\u2029', '</script><!--', '%22%5C%00', 'x'.repeat(100_000), `${'y'.repeat(40_000)}"\\\x01`,
];

describe('access log lines', () => {
  it('are byte for byte the JSON of the exchange, for every string a client can send', () => {
    const out = new Capture();
    const log = new AccessLog('json', { out });
    const exchanges: CompletedExchange[] = [];
    AWKWARD.forEach((s, i) => {
      const next = AWKWARD[(i + 1) % AWKWARD.length];
      exchanges.push(
        exchange({ target: `/${s}?q=${next}`, userAgent: s, host: next, requestId: s }),
        exchange({ method: s, remoteAddress: s, backend: backend('http://10.0.0.7:8080', s), error: s, upstreamMs: undefined }),
        exchange({ backend: undefined, status: 502, error: `connect ECONNREFUSED ${s}`, userAgent: next, attempts: 3 }),
      );
    });
    const before = Date.now();
    for (const x of exchanges) log.exchangeEnded(x);
    log.close();
    const after = Date.now();
    const lines = out.text.split(/(?<=\n)/);
    expect(lines).to.have.length(exchanges.length);
    const expected = lines.map((line, i) => {
      const time = (JSON.parse(line) as { time: string }).time;
      expect(Date.parse(time)).to.be.within(before, after);
      expect(new Date(Date.parse(time)).toISOString()).to.equal(time);
      expect(line).to.equal(expectedLine(exchanges[i], time));
      return expectedLine(exchanges[i], time);
    });
    expect(Buffer.concat(out.chunks).equals(Buffer.from(expected.join(''), 'utf8'))).to.equal(true);
  });

  it('reach stdout as UTF-8, whichever field holds text that is not ASCII', () => {
    const out = new Capture();
    const log = new AccessLog('json', { out });
    const ascii = Array.from({ length: 3000 }, (_, i) => exchange({ requestId: `a${i}`, userAgent: i % 7 ? 'curl/8.5.0' : 'say "hi" \\o/\t' }));
    // Not ASCII in every field the line takes from elsewhere, each in a batch of its own.
    const others = [
      exchange({ userAgent: 'Mözilla' }), exchange({ target: '/中文' }), exchange({ host: 'bücher.example' }), exchange({ requestId: '😀' }),
      exchange({ error: 'caf\xe9' }), exchange({ method: 'GÉT' }), exchange({ remoteAddress: '\u2028' }),
      exchange({ backend: backend('http://10.0.0.7:8080', 'pöd') }), exchange({ backend: backend('http://bücher.example:80') }), exchange({ protocol: 'HTTP/1.1é' }),
    ];
    const exchanges: CompletedExchange[] = [];
    for (const x of [...ascii.slice(0, 1000), ...others.flatMap((o, i) => [o, ...ascii.slice(1000 + i * 100, 1100 + i * 100)]), ...ascii.slice(2000)]) {
      exchanges.push(x);
      log.exchangeEnded(x);
      if (others.includes(x)) log.flush();
    }
    log.close();
    const times = out.lines.map((line) => (JSON.parse(line) as { time: string }).time);
    const expected = exchanges.map((x, i) => expectedLine(x, times[i])).join('');
    expect(Buffer.concat(out.chunks).equals(Buffer.from(expected, 'utf8'))).to.equal(true);
  });

  it('carry the millisecond they were made in', () => {
    const out = new Capture();
    const log = new AccessLog('json', { out });
    const made: [number, number][] = [];
    for (let i = 0; i < 3; i++) {
      const before = Date.now();
      log.exchangeEnded(exchange());
      made.push([before, Date.now()]);
      // The next line in a later millisecond (the clock itself is what is waited for).
      while (Date.now() < made[i][1] + 2);
    }
    log.close();
    out.lines.forEach((line, i) => expect(Date.parse((JSON.parse(line) as { time: string }).time)).to.be.within(made[i][0], made[i][1]));
  });

  it('round durations to a tenth of a millisecond as JSON numbers, and write null for what is unknown', () => {
    const out = new Capture();
    const log = new AccessLog('json', { out });
    const durations = [0, 0.04, 0.05, 0.15, 0.25, 1.25, 2.35, 9.95, 99.99, 12_345.678, 1e-9, 86_400_000.06, 123_456_789_012.35];
    const exchanges = durations.map((d, i) => exchange({ totalMs: d, upstreamMs: i % 2 ? d / 3 : undefined, host: undefined, userAgent: undefined, remoteAddress: undefined, requestId: undefined }));
    for (const x of exchanges) log.exchangeEnded(x);
    log.close();
    out.lines.forEach((line, i) => {
      const parsed = JSON.parse(line) as Record<string, unknown>;
      expect(`${line}\n`).to.equal(expectedLine(exchanges[i], String(parsed.time)));
      expect(parsed).to.include({ durationMs: Math.round(durations[i] * 10) / 10, host: null, userAgent: null, remote: null, requestId: null });
    });
  });

  it('are written whole, in order, in batches rather than one write per line', () => {
    const out = new Capture();
    const log = new AccessLog('json', { out });
    const count = 20_000;
    for (let i = 0; i < count; i++) log.exchangeEnded(exchange({ requestId: `r${i}`, userAgent: i % 100 === 0 ? 'u'.repeat(30_000) : 'agent' }));
    log.close();
    expect(out.chunks.length).to.be.greaterThan(10).and.lessThan(count / 10);
    for (const chunk of out.chunks) expect(chunk.at(-1)).to.equal(0x0a);
    const ids = out.lines.map((line) => (JSON.parse(line) as { requestId: string }).requestId);
    expect(ids).to.deep.equal(Array.from({ length: count }, (_, i) => `r${i}`));
  });

  it('in the pretty format read as before: time, status, method, target, backend, duration, size, id', () => {
    const out = new Capture();
    const log = new AccessLog('pretty', { out });
    log.exchangeEnded(exchange({ target: '/a?b=1', totalMs: 12.34, bytesOut: 512, requestId: 'abc' }));
    log.exchangeEnded(exchange({ backend: undefined, status: 502, attempts: 3, error: 'connect ECONNREFUSED', requestId: undefined, totalMs: 0.05 }));
    log.exchangeEnded(exchange({ target: '/café/中', requestId: 'é' }));
    log.close();
    const [first, second, third] = out.lines;
    expect(third).to.match(/^\d\d:\d\d:\d\d\.\d{3} 200 GET \/café\/中 → http:\/\/127\.0\.0\.1:8081 2\.3ms 236B id=é$/);
    expect(first).to.match(/^\d\d:\d\d:\d\d\.\d{3} 200 GET \/a\?b=1 → http:\/\/127\.0\.0\.1:8081 12\.3ms 512B id=abc$/);
    expect(second).to.match(/^\d\d:\d\d:\d\d\.\d{3} 502 GET \/ → - 0\.1ms 236B attempts=3 error="connect ECONNREFUSED" id=-$/);
  });
});

describe('access log on a stdout that does not keep up', () => {
  const LIMIT = 64 * 1024;
  const BATCH = 16 * 1024;

  function requestIds(lines: string[]): { ids: number[]; dropped: number[] } {
    const ids: number[] = [];
    const dropped: number[] = [];
    for (const line of lines) {
      const parsed = JSON.parse(line) as { msg: string; requestId?: string; dropped?: number; level: string };
      if (parsed.msg === 'access') ids.push(Number(parsed.requestId));
      else {
        expect(parsed).to.include({ msg: 'access lines dropped', level: 'warn' });
        dropped.push(parsed.dropped ?? NaN);
        ids.push(-1);
      }
    }
    return { ids, dropped };
  }

  it('holds at most its limit, counts the lines it drops, and says how many once stdout drains', async () => {
    const out = new Capture();
    out.stalled = true;
    const log = new AccessLog('json', { out, maxBufferedChars: LIMIT });
    const stalledCount = 20_000;
    let n = 0;
    for (; n < stalledCount; n++) {
      log.exchangeEnded(exchange({ requestId: String(n) }));
      expect(out.writableLength).to.be.at.most(LIMIT + BATCH + 1024);
    }
    const drained = once(out, 'drain');
    out.release();
    await drained;
    for (; n < stalledCount + 1000; n++) log.exchangeEnded(exchange({ requestId: String(n) }));
    log.close();

    const { ids, dropped } = requestIds(out.lines);
    expect(dropped).to.have.length(1);
    const gap = ids.indexOf(-1);
    // Every line before the notice, none of the dropped ones, every line after it.
    expect(ids.slice(0, gap)).to.deep.equal(Array.from({ length: gap }, (_, i) => i));
    expect(ids.slice(gap + 1)).to.deep.equal(Array.from({ length: n - gap - dropped[0] }, (_, i) => gap + dropped[0] + i));
    expect(dropped[0]).to.be.greaterThan(stalledCount / 2);
  });

  it('writes what it held, and the count of dropped lines, when closed while stdout is stalled', async () => {
    const out = new Capture();
    out.stalled = true;
    const log = new AccessLog('json', { out, maxBufferedChars: LIMIT });
    for (let n = 0; n < 5000; n++) log.exchangeEnded(exchange({ requestId: String(n) }));
    const waiting = out.writableLength;
    log.close();
    // Handed to stdout at once, not left for a 'drain' that may come after the process has exited.
    expect(out.writableLength).to.be.greaterThan(waiting);
    const drained = once(out, 'drain');
    out.release();
    await drained;
    const { ids, dropped } = requestIds(out.lines);
    expect(ids.at(-1)).to.equal(-1);
    expect(ids.length - 1 + dropped[0]).to.equal(5000);
    expect(ids.slice(0, -1)).to.deep.equal(Array.from({ length: ids.length - 1 }, (_, i) => i));
  });

  it('says so in the pretty format too', async () => {
    const out = new Capture();
    out.stalled = true;
    const log = new AccessLog('pretty', { out, maxBufferedChars: LIMIT });
    for (let n = 0; n < 5000; n++) log.exchangeEnded(exchange({ requestId: String(n) }));
    log.close();
    const drained = once(out, 'drain');
    out.release();
    await drained;
    expect(out.lines.at(-1)).to.match(/^\d\d:\d\d:\d\d\.\d{3} WARN {2}access lines dropped dropped=\d+ reason="stdout was not keeping up"$/);
  });
});
