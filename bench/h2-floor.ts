// sluice's HTTP/2 cost beside what any Node.js HTTP/2 server costs on the same machine, and beside
// HAProxy, in the same interleaved rounds:
//   node bench/h2-floor.ts [ROUNDS] [SECONDS] [--rate=CALLS_PER_S] [--instructions]
// Contenders (each pinned to the contender core, load and backends on the other, as npm run bench):
//   node-hello  a Node HTTP/2 server answering everything itself (bench/peers/node-h2.ts hello):
//               the ceiling of a Node HTTP/2 listener, with no upstream at all
//   node-proxy  Node's core stream API in, undici dispatch out, round robin, nothing else
//               (bench/peers/node-h2.ts proxy): the least any Node HTTP/2 proxy does
//   sluice      the staged package, default config (gRPC: upstream h2c, gRPC health checks)
//   haproxy     nbthread 1 (h2c in, HTTP/1.1 out; gRPC: h2 both sides)
// Workloads: h2c GET (h2load 4 x 16, NGINX HTTP/1.1 backends) and gRPC unary (h2load 4 x 16,
// grpc-go backends), then gRPC at a fixed rate (grpc-go open loop; default half of sluice's
// closed-loop rate) for p50/p99. Prints medians of requests/s and CPU time per request.
// --instructions adds instructions per request under valgrind's callgrind, which counts
// instructions, not time: the same on a quiet machine and a busy one (runs of 2,000 and 8,000
// requests against a fresh process each; the difference / 6,000). Takes ~10 more minutes.

import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildGrpcPeers } from './lib/gopeers.ts';
import { GRPC_CALL, grpcload, grpcRequestFrame, h2load, type Measurement, type Workload } from './lib/load.ts';
import { cpuMs, freePorts, has, killAll, pinned, pinning, run, startProcess, stopProcess, waitForOk, type Started } from './lib/procs.ts';
import { HAPROXY_ONE_THREAD, ROOT, startBackends, startGrpcBackends, startGrpcSluice, startSluice, type Backends, type GrpcBackends, type SluiceOptions } from './lib/servers.ts';

const argv = process.argv.slice(2);
const countInstructions = argv.includes('--instructions');
const [roundsArg, secondsArg] = argv.filter((a) => !a.startsWith('--'));
const rounds = Number(roundsArg ?? 3);
const seconds = Number(secondsArg ?? 5);
if (!has('h2load')) throw new Error('needs h2load (apt-get install nghttp2-client)');
if (!has('haproxy') || !has('nginx')) throw new Error('needs haproxy and nginx (apt-get install haproxy nginx-light)');
if (countInstructions && !has('valgrind')) throw new Error('--instructions needs valgrind (apt-get install valgrind)');

const H2C: Workload = { id: 'h2c-get', title: 'h2c GET, HTTP/1.1 backends', path: '/', connections: 4, streams: 16 };
const GRPC: Workload = { id: 'grpc-unary', title: 'gRPC unary, h2c backends', path: '/', connections: 4, streams: 16, grpc: true };
const WORKLOADS = [H2C, GRPC];
const NAMES = ['node-hello', 'node-proxy', 'sluice', 'haproxy'] as const;
type Name = typeof NAMES[number];

/** One contender serving one workload: where, and the process whose CPU time is its cost. */
interface Serving {
  url: string;
  proc: Started;
}

const pin = pinning();
const dir = mkdtempSync(join(tmpdir(), 'sluice-h2-floor-'));
const log = (line: string): void => void process.stdout.write(`${line}\n`);
const median = (v: number[]): number => {
  const s = v.filter(Number.isFinite).sort((a, b) => a - b);
  return s.length === 0 ? NaN : s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const fmt = (n: number, digits = 0): string => (Number.isFinite(n) ? n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits }) : '-');

async function startNode(args: string[], wrap: string[] = []): Promise<Serving> {
  const [port] = await freePorts(1);
  const proc = startProcess(pinned(pin.contender, [...wrap, process.execPath, join(ROOT, 'bench/peers/node-h2.ts'), args[0], String(port), ...args.slice(1)]), join(dir, `node-h2-${args[0]}.log`));
  const url = `http://127.0.0.1:${port}`;
  await waitForH2(url, proc);
  return { url, proc };
}

async function startHaproxy(backends: Backends, grpc: GrpcBackends, wrap: string[] = []): Promise<{ h2c: Serving; grpc: Serving }> {
  const [h2cPort, grpcPort] = await freePorts(2);
  const conf = join(dir, 'haproxy.cfg');
  writeFileSync(conf, `${HAPROXY_ONE_THREAD}
  http-reuse always
frontend fe_h2c
  bind 127.0.0.1:${h2cPort} proto h2
  default_backend be
frontend fe_grpc
  bind 127.0.0.1:${grpcPort} proto h2
  default_backend be_grpc
backend be
  balance roundrobin
${backends.ports.slice(0, 3).map((p, i) => `  server b${i} 127.0.0.1:${p}`).join('\n')}
backend be_grpc
  balance roundrobin
${grpc.ports.map((p, i) => `  server g${i} 127.0.0.1:${p} proto h2`).join('\n')}
`);
  const proc = startProcess(pinned(pin.contender, [...wrap, 'haproxy', '-db', '-f', conf]), join(dir, 'haproxy.log'));
  await waitForH2(`http://127.0.0.1:${h2cPort}`, proc);
  return { h2c: { url: `http://127.0.0.1:${h2cPort}`, proc }, grpc: { url: `http://127.0.0.1:${grpcPort}`, proc } };
}

/** Ready when one h2c GET gets an answer, whatever its status (a process under valgrind takes its time). */
async function waitForH2(url: string, proc: Started): Promise<void> {
  const deadline = Date.now() + 180_000;
  for (;;) {
    const r = await run(['h2load', '-n1', '-c1', url + '/'], 30_000);
    if (/ 1 done/.test(r.stdout)) return;
    if (proc.child.exitCode !== null) throw new Error(`${url}: exited with ${proc.child.exitCode} (see ${dir})`);
    if (Date.now() > deadline) throw new Error(`${url}: not answering after 180 s (last h2load: ${r.stdout.trim().split("\n").slice(-3).join(" / ")} ${r.stderr.trim()})`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

/** The contenders in `only`, for the workloads in `workloads`; `wrap` runs each process under a command (callgrind). */
async function startAll(backends: Backends, grpc: GrpcBackends, only: readonly Name[], workloads: readonly Workload[], wrap: () => string[] = () => []): Promise<Map<string, Serving>> {
  const serving = new Map<string, Serving>();
  const wants = (w: Workload): boolean => workloads.includes(w);
  for (const name of only) {
    if (name === 'node-hello') {
      const s = await startNode(['hello'], wrap());
      for (const w of workloads) serving.set(`${name}/${w.id}`, s);
    } else if (name === 'node-proxy') {
      if (wants(H2C)) serving.set(`${name}/${H2C.id}`, await startNode(['proxy', 'h1', ...backends.ports.slice(0, 3).map((p) => `http://127.0.0.1:${p}`)], wrap()));
      if (wants(GRPC)) serving.set(`${name}/${GRPC.id}`, await startNode(['proxy', 'h2c', ...grpc.ports.map((p) => `http://127.0.0.1:${p}`)], wrap()));
    } else if (name === 'sluice') {
      const prefix = wrap();
      const options: SluiceOptions = prefix.length === 0 ? {} : { wrap: prefix, nodeFlags: ['--max-semi-space-size=16'], readyTimeoutMs: 180_000 };
      if (wants(H2C)) {
        const h = await startSluice(dir, 'sluice', backends.ports.slice(0, 3), pin.contender, options);
        await waitForH2(h.url, h.proc);
        serving.set(`${name}/${H2C.id}`, { url: h.url, proc: h.proc });
      }
      if (wants(GRPC)) {
        const g = await startGrpcSluice(dir, 'sluice-grpc', grpc.ports, pin.contender, options);
        serving.set(`${name}/${GRPC.id}`, { url: g.url, proc: g.proc });
      }
    } else {
      const h = await startHaproxy(backends, grpc, wrap());
      if (wants(H2C)) serving.set(`${name}/${H2C.id}`, h.h2c);
      if (wants(GRPC)) serving.set(`${name}/${GRPC.id}`, h.grpc);
    }
  }
  return serving;
}

async function stopAll(serving: Map<string, Serving>, graceMs = 10_000): Promise<void> {
  for (const s of new Set([...serving.values()].map((v) => v.proc))) await stopProcess(s, graceMs);
}

/** h2load with a fixed number of requests (not a duration): for instruction counts. */
async function fixedCount(url: string, w: Workload, n: number): Promise<void> {
  const extra: string[] = [];
  if (w.grpc) {
    const body = join(dir, 'grpc-fixed-request.bin');
    writeFileSync(body, grpcRequestFrame());
    extra.push('-d', body, '-H', 'content-type: application/grpc', '-H', 'te: trailers');
  }
  const r = await run(pinned(pin.load, ['h2load', '-t1', `-c${w.connections}`, `-m${w.streams}`, `-n${n}`, ...extra, url + (w.grpc ? GRPC_CALL.path : w.path)]), 600_000);
  if (!new RegExp(`${n} succeeded`).test(r.stdout)) throw new Error(`h2load -n${n} ${url}: ${r.stdout.split('\n').filter((l) => l.startsWith('requests:')).join(' ')}`);
}

try {
  const grpcTools = buildGrpcPeers(log);
  if (!grpcTools) throw new Error('the gRPC peers did not build (needs go)');
  const backends = await startBackends(dir, 3, { wrk: false, haproxy: false, nginx: true, go: undefined }, pin.load);
  const grpc = await startGrpcBackends(dir, 3, grpcTools.backend, pin.load);
  log(`pinning: ${pin.contender === undefined ? 'off' : `contenders on core ${pin.contender}, load and backends on core ${pin.load}`}; ${rounds} rounds x ${seconds}s, interleaved`);

  const serving = await startAll(backends, grpc, NAMES, WORKLOADS);
  // Warm-up: JIT, pools; also writes the gRPC request frame h2load sends.
  for (const w of WORKLOADS) for (const name of NAMES) await h2load(dir, pin.load, serving.get(`${name}/${w.id}`)!.url, w, 2);

  const results = new Map<string, { rps: number[]; cpu: number[]; bad: number }>();
  for (let round = 0; round < rounds; round++) {
    for (const w of WORKLOADS) {
      const order = round % 2 === 0 ? [...NAMES] : [...NAMES].reverse();
      for (const name of order) {
        const s = serving.get(`${name}/${w.id}`)!;
        const cpu0 = cpuMs(s.proc.child.pid);
        const m: Measurement = await h2load(dir, pin.load, s.url, w, seconds);
        const cpuUs = ((cpuMs(s.proc.child.pid) - cpu0) * 1000) / m.requests;
        const r = results.get(`${name}/${w.id}`) ?? { rps: [], cpu: [], bad: 0 };
        r.rps.push(m.rps);
        r.cpu.push(cpuUs);
        r.bad += m.bad;
        results.set(`${name}/${w.id}`, r);
        log(`  [round ${round + 1}] ${w.id.padEnd(10)} ${name.padEnd(10)} ${fmt(m.rps).padStart(8)} req/s  ${fmt(cpuUs, 1).padStart(6)} us/req${m.bad ? `  bad ${m.bad} (${m.error})` : ''}`);
      }
    }
  }
  // gRPC at a fixed rate (grpc-go open loop, at most 64 calls in flight): half of sluice's
  // closed-loop rate unless --rate=R, so that every contender can hold it.
  const rateArg = argv.find((a) => a.startsWith('--rate='));
  const rate = rateArg ? Number(rateArg.slice(7)) : Math.max(250, Math.floor(median(results.get(`sluice/${GRPC.id}`)!.rps) / 2 / 250) * 250);
  const latency = new Map<string, { p50: number[]; p99: number[]; cpu: number[]; bad: number }>();
  log(`gRPC latency: open loop at ${fmt(rate)} calls/s, ${rounds + 1} rounds x ${seconds}s`);
  for (let round = 0; round <= rounds; round++) {
    for (const name of round % 2 === 0 ? [...NAMES] : [...NAMES].reverse()) {
      const s = serving.get(`${name}/${GRPC.id}`)!;
      const cpu0 = cpuMs(s.proc.child.pid);
      const m = await grpcload(grpcTools.load, pin.load, new URL(s.url).host, GRPC, seconds, rate);
      const cpuUs = ((cpuMs(s.proc.child.pid) - cpu0) * 1000) / m.requests;
      const l = latency.get(name) ?? { p50: [], p99: [], cpu: [], bad: 0 };
      l.p50.push(m.p50Ms);
      l.p99.push(m.p99Ms);
      l.cpu.push(cpuUs);
      l.bad += m.bad;
      latency.set(name, l);
      log(`  [round ${round + 1}] grpc-lat   ${name.padEnd(10)} p50 ${fmt(m.p50Ms, 2)} ms  p99 ${fmt(m.p99Ms, 2)} ms  ${fmt(cpuUs, 1)} us/call${m.bad ? `  bad ${m.bad} (${m.error})` : ''}`);
    }
  }
  await stopAll(serving);

  const instructions = new Map<string, number>();
  if (countInstructions) {
    log('\ninstructions per request (callgrind; a fresh process per run, 2,000 and 8,000 requests):');
    for (const w of WORKLOADS) {
      for (const name of NAMES) {
        const totals: number[] = [];
        for (const n of [2000, 8000]) {
          const out = join(dir, `callgrind-${name}-${w.id}-${n}.out`);
          const wrap = (): string[] => ['valgrind', '--tool=callgrind', `--callgrind-out-file=${out}`, '--smc-check=all-non-file'];
          const started = await startAll(backends, grpc, [name], [w], wrap);
          await fixedCount(started.get(`${name}/${w.id}`)!.url, w, n);
          await stopAll(started, 120_000);
          const summary = /^(?:summary|totals): (\d+)/m.exec(readFileSync(out, 'utf8'));
          rmSync(out, { force: true });
          if (!summary) throw new Error(`no callgrind totals in ${out}`);
          totals.push(Number(summary[1]));
        }
        instructions.set(`${name}/${w.id}`, (totals[1] - totals[0]) / 6000);
        log(`  ${w.id.padEnd(10)} ${name.padEnd(10)} ${fmt((totals[1] - totals[0]) / 6000)} instructions/request`);
      }
    }
  }
  await grpc.stop();
  await backends.stop();

  log('');
  log(`contender    ${WORKLOADS.map((w) => `${w.id} req/s (x haproxy)   us/req${countInstructions ? '   instr/req (x haproxy)' : ''}`).join('   ')}`);
  for (const name of NAMES) {
    const cells = WORKLOADS.map((w) => {
      const r = results.get(`${name}/${w.id}`)!;
      const h = results.get(`haproxy/${w.id}`)!;
      const rps = median(r.rps);
      const instr = instructions.get(`${name}/${w.id}`);
      const instrCell = countInstructions ? `   ${fmt(instr ?? NaN).padStart(9)} (${fmt((instr ?? NaN) / (instructions.get(`haproxy/${w.id}`) ?? NaN), 1)})` : '';
      return `${fmt(rps).padStart(9)} (${fmt(rps / median(h.rps), 2)})   ${fmt(median(r.cpu), 1).padStart(6)}${instrCell}${r.bad ? ` bad ${r.bad}` : ''}`;
    });
    log(`${name.padEnd(12)} ${cells.join('          ')}`);
  }
  log('medians of the rounds; x haproxy: requests/s as a share of HAProxy\'s (instructions: as a multiple of HAProxy\'s)');
  log('');
  log(`gRPC at ${fmt(rate)} calls/s   p50 ms   p99 ms (x haproxy)   us/call`);
  const haproxyP99 = median(latency.get('haproxy')!.p99);
  for (const name of NAMES) {
    const l = latency.get(name)!;
    log(`${name.padEnd(21)} ${fmt(median(l.p50), 2).padStart(6)}   ${fmt(median(l.p99), 2).padStart(6)} (${fmt(median(l.p99) / haproxyP99, 1)})   ${fmt(median(l.cpu), 1).padStart(7)}${l.bad ? ` bad ${l.bad}` : ''}`);
  }
} finally {
  killAll();
  rmSync(dir, { recursive: true, force: true });
}
