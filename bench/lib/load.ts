// Load generators: wrk (closed loop, throughput) when installed, else the Go loadgen in closed
// mode; the Go loadgen in open mode for latency at a fixed request rate. HTTP/2: h2load (closed
// loop, h2c prior knowledge; small GETs, and gRPC unary calls as POSTs of one gRPC frame), and
// bench/peers/grpc/load (grpc-go) for gRPC at a fixed rate and as the fallback without h2load.

import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pinned, run } from './procs.ts';

export interface Workload {
  id: string;
  title: string;
  path: string;
  connections: number;
  method?: 'GET' | 'POST';
  bodyBytes?: number;
  /** HTTP/2: concurrent streams per connection (h2load -m); `connections` is then h2load -c. */
  streams?: number;
  /** A gRPC unary call (grpc.testing.BenchmarkService/UnaryCall) instead of a GET of `path`. */
  grpc?: boolean;
}

export interface Measurement {
  rps: number;
  /** MB/s of response bodies (wrk: including headers). */
  mbps: number;
  requests: number;
  /** Non-2xx answers plus transport errors. */
  bad: number;
  p50Ms: number;
  p99Ms: number;
  p999Ms: number;
  /** Open loop only: requests that waited more than 10 ms for a connection. */
  late?: number;
  targetRate?: number;
  /** CPU time the contender process used per request (when it is a process of ours). */
  cpuUsPerRequest?: number;
  /** Highest VmRSS of the contender sampled during the run. */
  peakRssMb?: number;
  error?: string;
}

const WRK_REPORT = `
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('BENCHJSON {"requests":%d,"durationUs":%d,"bytes":%d,"status":%d,"connect":%d,"read":%d,"write":%d,"timeout":%d,"p50":%d,"p99":%d,"p999":%d}\\n',
    summary.requests, summary.duration, summary.bytes, e.status, e.connect, e.read, e.write, e.timeout,
    latency:percentile(50), latency:percentile(99), latency:percentile(99.9)))
end
`;

export function wrkScript(dir: string, workload: Workload): string {
  const file = join(dir, `wrk-${workload.id}.lua`);
  const lines: string[] = [];
  if (workload.method === 'POST') {
    lines.push('wrk.method = "POST"', `wrk.body = string.rep("x", ${workload.bodyBytes ?? 0})`, 'wrk.headers["Content-Type"] = "application/octet-stream"');
  }
  writeFileSync(file, lines.join('\n') + WRK_REPORT);
  return file;
}

export async function wrk(dir: string, core: string | undefined, url: string, workload: Workload, seconds: number): Promise<Measurement> {
  const script = wrkScript(dir, workload);
  const argv = pinned(core, ['wrk', '-t1', `-c${workload.connections}`, `-d${seconds}s`, '--timeout', '10s', '-s', script, url + workload.path]);
  const out = await run(argv, (seconds + 30) * 1000);
  const line = out.stdout.split('\n').find((l) => l.startsWith('BENCHJSON '));
  if (!line) return failed(`wrk failed (${out.code}): ${out.stderr.trim() || out.stdout.trim()}`);
  const r = JSON.parse(line.slice('BENCHJSON '.length)) as Record<string, number>;
  const secs = r.durationUs / 1e6;
  // wrk counts status >= 400 in `status`.
  const bad = r.status + r.connect + r.read + r.write + r.timeout;
  return {
    rps: r.requests / secs, mbps: r.bytes / secs / 1e6, requests: r.requests, bad,
    p50Ms: r.p50 / 1000, p99Ms: r.p99 / 1000, p999Ms: r.p999 / 1000,
    ...(bad > 0 ? { error: `status>=400: ${r.status}, connect: ${r.connect}, read: ${r.read}, write: ${r.write}, timeout: ${r.timeout}` } : {}),
  };
}

interface LoadgenResult {
  durationS: number; requests: number; ok: number; non2xx: number; errors: number; late: number; rps: number;
  bytes: number; p50Ms: number; p99Ms: number; p999Ms: number; targetRate?: number; firstError?: string;
}

export async function loadgen(binary: string, core: string | undefined, url: string, workload: Workload, seconds: number, rate?: number): Promise<Measurement> {
  const argv = pinned(core, [binary, '-url', url + workload.path, '-d', `${seconds}s`, '-c', String(workload.connections),
    '-method', workload.method ?? 'GET', '-body', String(workload.bodyBytes ?? 0),
    ...(rate === undefined ? ['-mode', 'closed'] : ['-mode', 'open', '-rate', String(rate)])]);
  const out = await run(argv, (seconds + 60) * 1000, { GOMAXPROCS: '1' });
  let r: LoadgenResult;
  try {
    r = JSON.parse(out.stdout.trim()) as LoadgenResult;
  } catch {
    return failed(`loadgen failed (${out.code}): ${out.stderr.trim()}`);
  }
  const bad = r.non2xx + r.errors;
  return {
    rps: r.rps, mbps: r.bytes / r.durationS / 1e6, requests: r.requests, bad,
    p50Ms: r.p50Ms, p99Ms: r.p99Ms, p999Ms: r.p999Ms, late: r.late, targetRate: r.targetRate,
    ...(bad > 0 ? { error: `non-2xx: ${r.non2xx}, errors: ${r.errors}${r.firstError ? ` (first: ${r.firstError})` : ''}` } : {}),
  };
}

/** The gRPC call both generators make: grpc.testing.BenchmarkService/UnaryCall, small messages. */
export const GRPC_CALL = { path: '/grpc.testing.BenchmarkService/UnaryCall', requestBytes: 32, responseBytes: 38 };

/** SimpleRequest{response_size, payload{body}} in a gRPC length-prefixed frame (sizes < 120 bytes). */
export function grpcRequestFrame(): Buffer {
  const payload = Buffer.concat([Buffer.from([0x12, GRPC_CALL.requestBytes]), Buffer.alloc(GRPC_CALL.requestBytes)]);
  const message = Buffer.concat([Buffer.from([0x10, GRPC_CALL.responseBytes, 0x1a, payload.length]), payload]);
  const prefix = Buffer.alloc(5);
  prefix.writeUInt32BE(message.length, 1);
  return Buffer.concat([prefix, message]);
}

/** Bytes of the one DATA payload of a successful response: 5-byte prefix + SimpleResponse{payload{body}}. */
const GRPC_RESPONSE_DATA_BYTES = 5 + 2 + 2 + GRPC_CALL.responseBytes;

/**
 * h2load, one thread, h2c with prior knowledge, for `seconds` (-D). Percentiles come from its
 * per-request log (h2load prints only min/mean/max). For gRPC it POSTs one gRPC frame with
 * `content-type: application/grpc` and `te: trailers`; h2load does not read trailers, so a call
 * counts as good only if its response carried the whole response message: the DATA bytes must be
 * succeeded x the message's frame size (an error answered by a proxy itself is trailers-only, with
 * no DATA). That trailers pass at all is checked with the grpc-go client (bench/run.ts).
 */
export async function h2load(dir: string, core: string | undefined, url: string, workload: Workload, seconds: number): Promise<Measurement> {
  const log = join(dir, `h2load-${workload.id}.log`);
  rmSync(log, { force: true });
  const grpc: string[] = [];
  if (workload.grpc) {
    const body = join(dir, 'grpc-request.bin');
    writeFileSync(body, grpcRequestFrame());
    grpc.push('-d', body, '-H', 'content-type: application/grpc', '-H', 'te: trailers');
  }
  const argv = pinned(core, ['h2load', '-t1', `-c${workload.connections}`, `-m${workload.streams ?? 1}`, '-D', String(seconds), `--log-file=${log}`, ...grpc, url + (workload.grpc ? GRPC_CALL.path : workload.path)]);
  const out = await run(argv, (seconds + 30) * 1000);
  const finished = /finished in ([\d.]+)s, ([\d.]+) req\/s/.exec(out.stdout);
  const requests = /requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored, (\d+) timeout/.exec(out.stdout);
  const data = /traffic: .*?, [^,]*\((\d+)\) data/.exec(out.stdout);
  if (!finished || !requests || !data) {
    rmSync(log, { force: true });
    return failed(`h2load failed (${out.code}): ${(out.stderr.trim() || out.stdout.trim()).split('\n').slice(-3).join(' / ')}`);
  }
  const [done, succeeded, timeout] = [Number(requests[3]), Number(requests[4]), Number(requests[7])];
  const dataBytes = Number(data[1]);
  const secs = Number(finished[1]);
  const latencies = latenciesFromLog(log);
  rmSync(log, { force: true });
  const pct = (p: number): number => (latencies.length === 0 ? NaN : latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))] / 1000);
  // gRPC: successes whose response message did not arrive (proxy-made errors are trailers-only).
  const withoutMessage = workload.grpc ? Math.max(0, succeeded - Math.floor(dataBytes / GRPC_RESPONSE_DATA_BYTES)) : 0;
  const bad = done - succeeded + timeout + withoutMessage;
  return {
    rps: done / secs, mbps: dataBytes / secs / 1e6, requests: done, bad,
    p50Ms: pct(0.5), p99Ms: pct(0.99), p999Ms: pct(0.999),
    ...(bad > 0 ? { error: `not 2xx/failed: ${done - succeeded}, timeout: ${timeout}${workload.grpc ? `, 2xx without a response message: ${withoutMessage}` : ''}` } : {}),
  };
}

/** Durations (µs, third column) of an h2load --log-file, sorted. */
function latenciesFromLog(file: string): Float64Array {
  let text: string;
  try {
    text = readFileSync(file, 'latin1');
  } catch {
    return new Float64Array(0);
  }
  const values: number[] = [];
  let start = 0;
  for (;;) {
    const end = text.indexOf('\n', start);
    if (end < 0) break;
    const tab = text.lastIndexOf('\t', end);
    if (tab > start) values.push(Number(text.slice(tab + 1, end)));
    start = end + 1;
  }
  return Float64Array.from(values).sort();
}

interface GrpcloadResult {
  durationS: number; requests: number; ok: number; errors: number; late: number; rps: number;
  bytes: number; p50Ms: number; p99Ms: number; p999Ms: number; targetRate?: number; codes: Record<string, number>; firstError?: string;
}

/** bench/peers/grpc/load (grpc-go): closed loop (conns x streams in flight), or open at `rate` calls/s. */
export async function grpcload(binary: string, core: string | undefined, target: string, workload: Workload, seconds: number, rate?: number): Promise<Measurement> {
  const argv = pinned(core, [binary, '-target', target, '-d', `${seconds}s`, '-conns', String(workload.connections), '-streams', String(workload.streams ?? 1),
    '-req', String(GRPC_CALL.requestBytes), '-resp', String(GRPC_CALL.responseBytes),
    ...(rate === undefined ? ['-mode', 'closed'] : ['-mode', 'open', '-rate', String(rate)])]);
  const out = await run(argv, (seconds + 60) * 1000, { GOMAXPROCS: '1' });
  let r: GrpcloadResult;
  try {
    r = JSON.parse(out.stdout.trim()) as GrpcloadResult;
  } catch {
    return failed(`grpc load failed (${out.code}): ${out.stderr.trim()}`);
  }
  return {
    rps: r.rps, mbps: r.bytes / r.durationS / 1e6, requests: r.requests, bad: r.errors,
    p50Ms: r.p50Ms, p99Ms: r.p99Ms, p999Ms: r.p999Ms, late: r.late, targetRate: r.targetRate,
    ...(r.errors > 0 ? { error: `gRPC errors: ${r.errors} ${JSON.stringify(r.codes)}${r.firstError ? ` (first: ${r.firstError})` : ''}` } : {}),
  };
}

function failed(error: string): Measurement {
  return { rps: NaN, mbps: NaN, requests: 0, bad: NaN, p50Ms: NaN, p99Ms: NaN, p999Ms: NaN, error };
}
