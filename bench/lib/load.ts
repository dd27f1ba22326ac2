// Load generators: wrk (closed loop, throughput) when installed, else the Go loadgen in closed
// mode; the Go loadgen in open mode for latency at a fixed request rate.

import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pinned, run } from './procs.ts';

export interface Workload {
  id: string;
  title: string;
  path: string;
  connections: number;
  method?: 'GET' | 'POST';
  bodyBytes?: number;
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

function failed(error: string): Measurement {
  return { rps: NaN, mbps: NaN, requests: 0, bad: NaN, p50Ms: NaN, p99Ms: NaN, p999Ms: NaN, error };
}
