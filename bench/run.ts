// `npm run bench [-- --quick] [-- --rounds N --seconds S --rate R --out FILE.json]`
//
// Measures sluice against the ceiling (straight to a backend), a minimal http-proxy balancer,
// Go's httputil.ReverseProxy, HAProxy and NGINX, each on one core with one worker, in
// interleaved rounds; reports medians and per-round ratios to sluice, sluice's memory,
// start-to-ready time and the cost of health checks, access logs and a 100-backend pool.
// See bench/README.md.

import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, release, tmpdir, totalmem } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { renderChart } from './lib/chart.ts';
import { loadgen, wrk, type Measurement, type Workload } from './lib/load.ts';
import { cpuMs, has, killAll, memoryOf, pinning, sleep, stopProcess, type Pinning } from './lib/procs.ts';
import { footprintTargets, idleRss, measureFootprint, type FootprintResult } from './footprint.ts';
import { ROOT, startBackends, startContenders, startSluice, waitAllHealthy, type Contender, type StartedSluice, type Tools } from './lib/servers.ts';

interface Args {
  quick: boolean;
  rounds: number;
  seconds: number;
  latencySeconds: number;
  rate: number | undefined;
  out: string;
  keep: boolean;
  /** Tools to treat as missing (to try the fallbacks): wrk, nginx, haproxy, go. */
  without: string[];
  /** Only the footprint (memory, start-up) against the peers: bench/footprint.ts. */
  footprintOnly: boolean;
}

function parseArgs(argv: string[]): Args {
  const quick = argv.includes('--quick');
  const args: Args = {
    quick,
    rounds: quick ? 2 : 3,
    seconds: quick ? 2 : 4,
    latencySeconds: quick ? 2 : 3,
    rate: undefined,
    out: join(ROOT, 'bench/results', quick ? 'quick.json' : 'latest.json'),
    keep: false,
    without: [],
    footprintOnly: argv.includes('--footprint'),
  };
  if (args.footprintOnly) args.out = join(ROOT, 'bench/results', quick ? 'footprint-quick.json' : 'footprint.json');
  for (let i = 0; i < argv.length; i++) {
    const value = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${argv[i - 1]} needs a value`);
      return v;
    };
    switch (argv[i]) {
      case '--quick': case '--footprint': break;
      case '--rounds': args.rounds = Math.max(1, Number(value())); break;
      // wrk takes whole seconds.
      case '--seconds': args.seconds = Math.max(1, Math.round(Number(value()))); break;
      case '--latency-seconds': args.latencySeconds = Math.max(1, Math.round(Number(value()))); break;
      case '--rate': args.rate = Number(value()); break;
      case '--out': args.out = resolve(value()); break;
      case '--keep': args.keep = true; break;
      case '--without': args.without = value().split(','); break;
      case '-h': case '--help':
        process.stdout.write('npm run bench [-- --quick] [--footprint] [--rounds N] [--seconds S] [--latency-seconds S] [--rate RPS] [--out FILE.json] [--keep] [--without wrk,nginx,haproxy,go] | --profile [SECONDS] [CONNECTIONS] [BACKENDS]\n');
        process.exit(0);
        break;
      default: throw new Error(`unknown argument ${argv[i]} (see bench/README.md)`);
    }
  }
  return args;
}

const WORKLOADS: Workload[] = [
  { id: 'get64', title: 'small GET, 64 connections', path: '/', connections: 64 },
  { id: 'get256', title: 'small GET, 256 connections', path: '/', connections: 256 },
  { id: 'big', title: '1 MiB response, 8 connections', path: '/big', connections: 8 },
  { id: 'post64k', title: 'POST 64 KiB body, 32 connections', path: '/upload', connections: 32, method: 'POST', bodyBytes: 64 * 1024 },
];
const LATENCY: Workload = { id: 'latency', title: 'small GET at a fixed rate, up to 64 connections', path: '/', connections: 64 };

function log(line: string): void {
  process.stdout.write(`${line}\n`);
}

function maxOf(values: number[]): number {
  const v = values.filter((x) => Number.isFinite(x));
  return v.length === 0 ? NaN : Math.max(...v);
}

function median(values: number[]): number {
  const v = values.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return NaN;
  const mid = v.length >> 1;
  return v.length % 2 === 1 ? v[mid] : (v[mid - 1] + v[mid]) / 2;
}

// ---------------------------------------------------------------------------------------------
// Tools

function ensureTools(without: string[]): Tools {
  if (without.length > 0) log(`treating as missing (--without): ${without.join(', ')}`);
  const present = (t: string): boolean => !without.includes(t) && has(t);
  const missing = ['wrk', 'haproxy', 'nginx'].filter((t) => !without.includes(t) && !has(t));
  if (missing.length > 0) {
    const isRoot = process.getuid?.() === 0;
    if (process.env.SLUICE_BENCH_NO_INSTALL) {
      log(`missing: ${missing.join(', ')} (SLUICE_BENCH_NO_INSTALL is set: not installing)`);
    } else if (!isRoot || !has('apt-get')) {
      log(`missing: ${missing.join(', ')} (not root or no apt-get: not installing; those contenders are reported missing)`);
    } else {
      const pkgs = missing.map((t) => (t === 'nginx' ? 'nginx-light' : t));
      log(`missing: ${missing.join(', ')}; running: apt-get install -y ${pkgs.join(' ')}   (set SLUICE_BENCH_NO_INSTALL=1 to skip)`);
      let r = spawnSync('apt-get', ['install', '-y', ...pkgs], { stdio: 'inherit', timeout: 300_000, env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
      if (r.status !== 0) {
        log('apt-get install failed; running: apt-get update, then the install again');
        spawnSync('apt-get', ['update'], { stdio: 'inherit', timeout: 300_000 });
        r = spawnSync('apt-get', ['install', '-y', ...pkgs], { stdio: 'inherit', timeout: 300_000, env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
      }
      // Debian's nginx package may start a system nginx on :80; it does not touch the bench.
      if (r.status !== 0) log('apt-get install failed; the missing tools stay missing');
    }
  }
  return { wrk: present('wrk'), haproxy: present('haproxy'), nginx: present('nginx'), go: without.includes('go') ? undefined : buildGoPeers() };
}

function goBinary(): string | undefined {
  if (has('go')) return 'go';
  try {
    readFileSync('/usr/local/go/bin/go');
    return '/usr/local/go/bin/go';
  } catch {
    return undefined;
  }
}

/** Builds bench/peers/*\/main.go into bench/.build (git-ignored); undefined without Go. */
function buildGoPeers(): Tools['go'] {
  const go = goBinary();
  if (go === undefined) {
    log('go: not installed; the Go ReverseProxy contender and the fixed-rate latency workload are missing');
    return undefined;
  }
  const out = join(ROOT, 'bench/.build');
  mkdirSync(out, { recursive: true });
  const built: Record<string, string> = {};
  for (const peer of ['backend', 'goproxy', 'loadgen']) {
    const target = join(out, peer);
    const r = spawnSync(go, ['build', '-o', target, `./bench/peers/${peer}/main.go`], { cwd: ROOT, encoding: 'utf8', timeout: 300_000, env: { ...process.env, CGO_ENABLED: '0', GOFLAGS: '-mod=mod', GOTOOLCHAIN: 'local' } });
    if (r.status !== 0) {
      log(`go build ${peer} failed: ${r.stderr}`);
      return undefined;
    }
    built[peer] = target;
  }
  log(`go peers built into ${relative(ROOT, out)}/ (${firstLine(spawnSync(go, ['version'], { encoding: 'utf8' }).stdout)})`);
  return { backend: built.backend, goproxy: built.goproxy, loadgen: built.loadgen };
}

function firstLine(s: string | undefined): string {
  return (s ?? '').trim().split('\n')[0] ?? '';
}

function versions(tools: Tools): Record<string, string> {
  const cmd = (argv: string[]): string => {
    const r = spawnSync(argv[0], argv.slice(1), { encoding: 'utf8' });
    return firstLine(r.stdout || r.stderr);
  };
  const pkg = (name: string): string => (JSON.parse(readFileSync(join(ROOT, 'node_modules', name, 'package.json'), 'utf8')) as { version: string }).version;
  const go = goBinary();
  return {
    node: process.version,
    sluice: (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version,
    commit: cmd(['git', '-C', ROOT, 'rev-parse', '--short', 'HEAD']) + (cmd(['git', '-C', ROOT, 'status', '--porcelain', '--', 'src']) ? ' (src modified)' : ''),
    undici: pkg('undici'),
    'http-proxy': pkg('http-proxy'),
    wrk: tools.wrk ? cmd(['wrk', '-v']).split(' ').slice(0, 2).join(' ') : 'missing',
    haproxy: tools.haproxy ? cmd(['haproxy', '-v']).split(' - ')[0] : 'missing',
    nginx: tools.nginx ? cmd(['nginx', '-v']) : 'missing',
    go: go ? cmd([go, 'version']) : 'missing',
  };
}

// ---------------------------------------------------------------------------------------------
// Measuring

interface Series {
  runs: Measurement[];
  /** Per round: this contender's primary metric divided by sluice's in the same round. */
  ratios: number[];
}

type Table = Record<string, Record<string, Series>>;

class Bench {
  readonly args: Args;
  readonly tools: Tools;
  readonly pin: Pinning;
  readonly dir: string;
  readonly table: Table = {};
  readonly rssUnderLoad: Record<string, number[]> = {};

  constructor(args: Args, tools: Tools, pin: Pinning, dir: string) {
    this.args = args;
    this.tools = tools;
    this.pin = pin;
    this.dir = dir;
  }

  get generator(): string {
    return this.tools.wrk ? 'wrk (1 thread)' : this.tools.go ? 'bench/peers/loadgen closed loop (wrk missing)' : 'missing';
  }

  async throughput(url: string, workload: Workload, seconds: number): Promise<Measurement> {
    if (this.tools.wrk) return wrk(this.dir, this.pin.load, url, workload, seconds);
    if (this.tools.go) return loadgen(this.tools.go.loadgen, this.pin.load, url, workload, seconds);
    return { rps: NaN, mbps: NaN, requests: 0, bad: NaN, p50Ms: NaN, p99Ms: NaN, p999Ms: NaN, error: 'no load generator: neither wrk nor go' };
  }

  /**
   * Measures while sampling the process's RSS every 100 ms; returns the measurement (with the
   * contender's CPU time per request, which other load on the machine disturbs less than req/s)
   * and the peak RSS.
   */
  async sampled(pid: number | undefined, work: () => Promise<Measurement>): Promise<{ m: Measurement; peakRssMb: number }> {
    let peak = 0;
    const timer = setInterval(() => {
      const mem = memoryOf(pid);
      if (mem && mem.rssMb > peak) peak = mem.rssMb;
    }, 100);
    const cpu0 = cpuMs(pid);
    try {
      const m = await work();
      m.cpuUsPerRequest = ((cpuMs(pid) - cpu0) * 1000) / m.requests;
      if (pid !== undefined) m.peakRssMb = peak;
      return { m, peakRssMb: peak };
    } finally {
      clearInterval(timer);
    }
  }

  record(workload: string, contender: string, m: Measurement): void {
    ((this.table[workload] ??= {})[contender] ??= { runs: [], ratios: [] }).runs.push(m);
  }

  /** After a round: ratio of each contender's metric to sluice's in that round. */
  ratios(workload: string, metric: 'rps' | 'p99Ms', round: number, base = 'sluice'): void {
    const row = this.table[workload];
    const sluice = row?.[base]?.runs[round]?.[metric];
    if (!row || sluice === undefined) return;
    for (const series of Object.values(row)) {
      const value = series.runs[round]?.[metric];
      if (value !== undefined) series.ratios.push(value / sluice);
    }
  }
}

function fmt(n: number, digits = 0): string {
  if (!Number.isFinite(n)) return '-';
  return n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
}

function progress(round: number, what: string, name: string, m: Measurement, extra = ''): void {
  const err = m.error ? `  !! ${m.error}` : '';
  log(`  [round ${round + 1}] ${what.padEnd(8)} ${name.padEnd(18)} ${fmt(m.rps).padStart(8)} req/s  p50 ${fmt(m.p50Ms, 2)} ms  p99 ${fmt(m.p99Ms, 2)} ms${extra}${err}`);
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const startedAt = new Date();
  const load0 = loadavg();
  log(`sluice bench ${args.quick ? '(quick) ' : ''}- ${startedAt.toISOString()} - ${cpus().length} x ${cpus()[0]?.model ?? '?'} - load average ${load0.map((l) => l.toFixed(2)).join(' ')}`);
  if (Number(process.versions.node.split('.')[0]) < 24) throw new Error(`Node 24+ needed (this is ${process.version}); run through npm run bench`);
  const tools = ensureTools(args.without);
  const pin = pinning();
  log(pin.contender === undefined
    ? 'pinning: off (taskset missing or one core): every process shares every core'
    : `pinning: contenders on core ${pin.contender}; load generator, backends and this script on core(s) ${pin.load}`);

  const dir = mkdtempSync(join(tmpdir(), 'sluice-bench-'));
  const bench = new Bench(args, tools, pin, dir);
  const cleanup = (): void => {
    killAll();
    if (!args.keep) rmSync(dir, { recursive: true, force: true });
  };
  process.once('SIGINT', () => { cleanup(); process.exit(130); });
  process.once('SIGTERM', () => { cleanup(); process.exit(143); });

  try {
    const backends = await startBackends(dir, 100, tools, pin.load);
    const three = backends.ports.slice(0, 3);
    log(`backends: ${backends.kind === 'nginx' ? 'one NGINX worker' : 'one Go process (GOMAXPROCS=1)'} serving ${backends.ports.length} ports; the pool is the first 3 (the 100-backend variant uses all)`);
    log(`load generator: ${bench.generator}; fixed-rate latency: ${tools.go ? 'bench/peers/loadgen open loop' : 'missing (needs go)'}`);

    const contenders = await startContenders(dir, three, tools, pin.contender);
    for (const c of contenders.filter((c) => c.missing)) log(`contender ${c.name}: MISSING (${c.missing})`);
    const live = contenders.filter((c) => c.url !== undefined);
    const sluice = live.find((c) => c.name === 'sluice')!;
    await sleep(1000);
    const idle = memoryOf(sluice.pid);
    log(`sluice idle: VmRSS ${fmt(idle?.rssMb ?? NaN, 1)} MB`);
    const peerIdle: Record<string, number> = {};
    for (const c of live.filter((c) => c.pid !== undefined)) peerIdle[c.name] = await idleRss(c.pid);
    log(`idle VmRSS: ${Object.entries(peerIdle).map(([name, mb]) => `${name} ${fmt(mb, 1)} MB`).join(', ')}`);

    if (args.footprintOnly) {
      const footprint = await measureFootprint(dir, pin, three, { quick: args.quick, hasWrk: tools.wrk, peers: live, peerIdle, log });
      for (const c of live) if (c.proc) await stopProcess(c.proc);
      await backends.stop();
      const result = { date: startedAt.toISOString(), quick: args.quick, machine: machine(load0, loadavg()), versions: versions(tools), footprint, targets: footprintTargets(footprint) };
      printFootprint(footprint, result.targets);
      mkdirSync(dirname(args.out), { recursive: true });
      writeFileSync(args.out, `${JSON.stringify(result, null, 2)}\n`);
      log(`\nload average: start ${result.machine.loadAverageStart.join(' ')}, end ${result.machine.loadAverageEnd.join(' ')}`);
      log(`wrote ${relative(process.cwd(), args.out)}`);
      return;
    }

    // Warm-up (not recorded): JIT, connection pools, socket buffers.
    const warm = args.quick ? 1 : 2;
    log(`warm-up: ${warm}s of each workload per contender`);
    for (const w of args.quick ? WORKLOADS.slice(0, 1) : WORKLOADS) {
      for (const c of live) await bench.throughput(c.url!, w, warm);
    }

    log(`throughput: ${args.rounds} rounds x ${WORKLOADS.length} workloads x ${live.length} contenders, ${args.seconds}s each, interleaved`);
    for (let round = 0; round < args.rounds; round++) {
      for (const w of WORKLOADS) {
        for (const c of live) {
          const { m, peakRssMb } = await bench.sampled(c.pid, () => bench.throughput(c.url!, w, args.seconds));
          bench.record(w.id, c.name, m);
          if (w.id === 'get256' && c.pid !== undefined) (bench.rssUnderLoad[c.name] ??= []).push(peakRssMb);
          progress(round, w.id, c.name, m, w.id === 'get256' && c.pid !== undefined ? `  rss ${fmt(peakRssMb)} MB` : '');
        }
        bench.ratios(w.id, 'rps', round);
      }
    }
    const sluiceHwm = memoryOf(sluice.pid)?.hwmMb ?? NaN;

    // The fixed rate: half of what the slowest balancer did at 64 connections, so all can hold it.
    const slowest = Math.min(...live.filter((c) => c.name !== 'direct').map((c) => median(bench.table.get64?.[c.name]?.runs.map((m) => m.rps) ?? [])).filter(Number.isFinite));
    const rate = args.rate ?? (Number.isFinite(slowest) ? Math.max(200, Math.floor((slowest * 0.5) / 250) * 250) : 1000);
    if (tools.go) {
      // More, shorter rounds than for throughput: a p99 is what a burst of background load hits first.
      const latencyRounds = args.rounds + 2;
      log(`latency: open loop at ${rate} req/s (${args.rate ? 'from --rate' : `half the slowest balancer's median small-GET rate, ${fmt(slowest)} req/s`}), ${latencyRounds} rounds x ${args.latencySeconds}s`);
      for (let round = 0; round < latencyRounds; round++) {
        for (const c of live) {
          const m = await loadgen(tools.go.loadgen, pin.load, c.url!, LATENCY, args.latencySeconds, rate);
          bench.record(LATENCY.id, c.name, m);
          progress(round, 'latency', c.name, m, `  p99.9 ${fmt(m.p999Ms, 2)} ms${m.late ? `  late ${m.late}` : ''}`);
        }
        bench.ratios(LATENCY.id, 'p99Ms', round);
      }
    } else {
      log('latency: MISSING (the open-loop generator needs go)');
    }

    // RSS at 256 connections on a fresh sluice that sees only small GETs: the in-run number above
    // also carries what the 1 MiB and 64 KiB workloads left in the allocator.
    const rssSeconds = args.seconds * args.rounds;
    const fresh = await startSluice(dir, 'sluice-rss', three, pin.contender);
    await waitAllHealthy(fresh.adminUrl, three.length);
    await sleep(500);
    const freshPid = fresh.proc.child.pid;
    const freshIdle = memoryOf(freshPid)?.rssMb ?? NaN;
    const freshLoad = await bench.sampled(freshPid, () => bench.throughput(fresh.url, WORKLOADS[1], rssSeconds));
    const freshHwm = memoryOf(freshPid)?.hwmMb ?? NaN;
    log(`fresh sluice, ${rssSeconds}s of small GETs at 256 connections: idle ${fmt(freshIdle, 1)} MB, peak VmRSS ${fmt(freshLoad.peakRssMb, 1)} MB, VmHWM ${fmt(freshHwm, 1)} MB (${fmt(freshLoad.m.rps)} req/s)`);
    await stopProcess(fresh.proc);

    // Sluice variants, each against the default sluice in interleaved rounds (small GET, 64 conns).
    log('sluice variants: health checks every 100ms, access log on, metrics off, 100 backends (each against the default sluice)');
    const variants: { name: string; title: string; started: StartedSluice }[] = [];
    const starts: [string, string, number[], Parameters<typeof startSluice>[4]][] = [
      ['health-100ms', 'health checks every 100 ms (vs 10 s)', three, { healthInterval: '100ms' }],
      ['access-log', 'access log on (JSON lines to a file)', three, { accessLog: true }],
      ['metrics-off', 'metrics off (admin.metrics: false; the default sluice has them on)', three, { metrics: false }],
      ['100-backends', '100 backends in the pool (vs 3)', backends.ports, {}],
    ];
    for (const [name, title, ports, options] of starts) {
      const started = await startSluice(dir, `sluice-${name}`, ports, pin.contender, options);
      await waitAllHealthy(started.adminUrl, ports.length);
      variants.push({ name, title, started });
      await bench.throughput(started.url, WORKLOADS[0], warm);
    }
    const variantRows = [{ name: 'sluice', url: sluice.url!, pid: sluice.pid }, ...variants.map((v) => ({ name: v.name, url: v.started.url, pid: v.started.proc.child.pid }))];
    // Twice the rounds at half the length, each round in a rotated order: these costs are a few
    // percent, and short interleaved runs see the same background load.
    const variantRounds = args.rounds * 2;
    const variantSeconds = Math.max(1, Math.round(args.seconds / 2));
    for (let round = 0; round < variantRounds; round++) {
      const order = variantRows.map((_, i) => variantRows[(i + round) % variantRows.length]);
      for (const v of order) {
        // An unrecorded second of the same load first: undici closes upstream connections idle for
        // 4 s, and this process sat idle while the others ran. The cost asked about is the steady one.
        await bench.throughput(v.url, WORKLOADS[0], 1);
        const { m } = await bench.sampled(v.pid, () => bench.throughput(v.url, WORKLOADS[0], variantSeconds));
        bench.record('variants', v.name, m);
        progress(round, 'variant', v.name, m);
      }
      bench.ratios('variants', 'rps', round);
    }
    for (const v of variants) await stopProcess(v.started.proc);

    // Start-to-ready: spawn -> /readyz 200 (needs a first passing probe), fresh process each time.
    const readyRuns: number[] = [];
    for (let i = 0; i < (args.quick ? 3 : 5); i++) {
      const started = await startSluice(dir, `sluice-ready-${i}`, three, pin.contender);
      readyRuns.push(started.readyMs);
      await stopProcess(started.proc);
    }
    log(`start-to-ready: ${readyRuns.map((r) => fmt(r)).join(', ')} ms`);

    const footprint = await measureFootprint(dir, pin, three, { quick: args.quick, hasWrk: tools.wrk, peers: live, peerIdle, log });

    for (const c of live) if (c.proc) await stopProcess(c.proc);
    await backends.stop();

    const load1 = loadavg();
    const results = summarise(bench, {
      args, startedAt, load0, load1, tools, contenders, rate, backendsKind: backends.kind,
      idleRssMb: idle?.rssMb ?? NaN, hwmMb: sluiceHwm, readyRuns,
      fresh: { idleRssMb: freshIdle, peakRssMb: freshLoad.peakRssMb, hwmMb: freshHwm, seconds: rssSeconds, rps: freshLoad.m.rps }, variants: variants.map((v) => ({ name: v.name, title: v.title })),
      footprint,
    });
    printTable(results);
    mkdirSync(dirname(args.out), { recursive: true });
    writeFileSync(args.out, `${JSON.stringify(results, null, 2)}\n`);
    const svg = args.out.replace(/\.json$/, '.svg');
    writeFileSync(svg, renderChart(results));
    log(`\nwrote ${relative(process.cwd(), args.out)} and ${relative(process.cwd(), svg)}`);
  } finally {
    cleanup();
  }
}

// ---------------------------------------------------------------------------------------------
// Summary

export interface ContenderSummary {
  name: string;
  description: string;
  missing?: string;
  /** Medians per workload id. */
  workloads: Record<string, { rps: number; mbps: number; p50Ms: number; p99Ms: number; p999Ms: number; bad: number; ratioToSluice: number; cpuUsPerRequest: number; peakRssMb: number; rounds: number[] } | undefined>;
  rssUnderLoadMb?: number;
}

export interface Results {
  date: string;
  quick: boolean;
  machine: { nproc: number; cpu: string; kernel: string; memoryGb: number; loadAverageStart: number[]; loadAverageEnd: number[] };
  versions: Record<string, string>;
  settings: { rounds: number; latencyRounds: number; variantRounds: number; secondsPerRun: number; latencySecondsPerRun: number; rate: number; pinning: string; loadGenerator: string; latencyGenerator: string; backends: string };
  workloads: { id: string; title: string; metric: string }[];
  contenders: ContenderSummary[];
  sluice: {
    /** The contender sluice: idle after start, peak during the interleaved 256-connection runs, VmHWM after the whole run. */
    idleRssMb: number;
    rssUnderLoadMb: number;
    hwmMb: number;
    /** A fresh sluice under small GETs at 256 connections only (the RSS target's condition). */
    rss256: SummaryInput['fresh'];
    startToReadyMs: { median: number; runs: number[] };
    costs: { name: string; title: string; rps: number; baseRps: number; costPercent: number; ratios: number[]; cpuUsPerRequest: number; baseCpuUsPerRequest: number }[];
  };
  /** Memory and start-up against the issue-10 targets, peers beside (bench/footprint.ts). */
  footprint?: FootprintResult;
  targets: { target: string; value: string; met: boolean | null }[];
}

interface SummaryInput {
  args: Args; startedAt: Date; load0: number[]; load1: number[]; tools: Tools; contenders: Contender[]; rate: number; backendsKind: string;
  idleRssMb: number; hwmMb: number; readyRuns: number[]; variants: { name: string; title: string }[];
  fresh: { idleRssMb: number; peakRssMb: number; hwmMb: number; seconds: number; rps: number };
  footprint: FootprintResult;
}

function summarise(bench: Bench, s: SummaryInput): Results {
  const ids = [...WORKLOADS.map((w) => w.id), LATENCY.id];
  const contenders: ContenderSummary[] = s.contenders.map((c) => {
    const workloads: ContenderSummary['workloads'] = {};
    for (const id of ids) {
      const series = bench.table[id]?.[c.name];
      if (!series) continue;
      const pick = (k: keyof Measurement): number => median(series.runs.map((m) => m[k] as number));
      workloads[id] = {
        rps: pick('rps'), mbps: pick('mbps'), p50Ms: pick('p50Ms'), p99Ms: pick('p99Ms'), p999Ms: pick('p999Ms'),
        bad: series.runs.reduce((sum, m) => sum + (Number.isFinite(m.bad) ? m.bad : 0), 0),
        ratioToSluice: median(series.ratios),
        cpuUsPerRequest: pick('cpuUsPerRequest'),
        peakRssMb: maxOf(series.runs.map((m) => m.peakRssMb ?? NaN)),
        rounds: series.runs.map((m) => (id === LATENCY.id ? m.p99Ms : m.rps)),
      };
    }
    const rss = bench.rssUnderLoad[c.name];
    return { name: c.name, description: c.description, ...(c.missing ? { missing: c.missing } : {}), workloads, ...(rss ? { rssUnderLoadMb: Math.max(...rss) } : {}) };
  });
  const variants = bench.table.variants ?? {};
  const baseRps = median(variants.sluice?.runs.map((m) => m.rps) ?? []);
  const baseCpu = median(variants.sluice?.runs.map((m) => m.cpuUsPerRequest ?? NaN) ?? []);
  const costs = s.variants.map((v) => {
    const series = variants[v.name];
    const ratio = median(series?.ratios ?? []);
    const cpu = median(series?.runs.map((m) => m.cpuUsPerRequest ?? NaN) ?? []);
    return { name: v.name, title: v.title, rps: median(series?.runs.map((m) => m.rps) ?? []), baseRps, costPercent: (1 - ratio) * 100, ratios: series?.ratios ?? [], cpuUsPerRequest: cpu, baseCpuUsPerRequest: baseCpu };
  });
  const sluice = contenders.find((c) => c.name === 'sluice')!;
  const ratioOf = (name: string, id: string): number => contenders.find((c) => c.name === name)?.workloads[id]?.ratioToSluice ?? NaN;
  const inverse = (r: number): number => 1 / r;
  const rssLoad = sluice.rssUnderLoadMb ?? NaN;
  const rssFresh = s.fresh.peakRssMb;
  const check = (value: number, ok: (v: number) => boolean): boolean | null => (Number.isFinite(value) ? ok(value) : null);
  const costOf = (name: string): number => costs.find((c) => c.name === name)?.costPercent ?? NaN;
  const sluiceBad = sluice.workloads.get64?.bad ?? NaN;
  const vsHttpProxy = inverse(ratioOf('http-proxy', 'get64'));
  const vsHaproxy = inverse(ratioOf('haproxy', 'get64'));
  const p99VsHaproxy = inverse(ratioOf('haproxy', LATENCY.id));
  const targets = [
    { target: 'small GET @64: sluice >= 1.5x http-proxy rps', value: `${fmt(vsHttpProxy, 2)}x`, met: check(vsHttpProxy, (v) => v >= 1.5) },
    { target: 'small GET @64: sluice >= 0.5x HAProxy (1 thread) rps', value: `${fmt(vsHaproxy, 2)}x`, met: check(vsHaproxy, (v) => v >= 0.5) },
    { target: 'small GET @64: no non-2xx from sluice', value: `${fmt(sluiceBad)} bad`, met: check(sluiceBad, (v) => v === 0) },
    { target: `p99 at ${s.rate} req/s: sluice within 2x HAProxy`, value: `${fmt(p99VsHaproxy, 2)}x`, met: check(p99VsHaproxy, (v) => v <= 2) },
    { target: 'health checks every 100ms cost < 5%', value: `${fmt(costOf('health-100ms'), 1)}%`, met: check(costOf('health-100ms'), (v) => v < 5) },
    { target: '100 backends cost < 5% vs 3', value: `${fmt(costOf('100-backends'), 1)}%`, met: check(costOf('100-backends'), (v) => v < 5) },
    { target: 'RSS < 150 MB at 256 connections (fresh sluice, small GETs)', value: `${fmt(rssFresh, 1)} MB`, met: check(rssFresh, (v) => v < 150) },
    ...footprintTargets(s.footprint),
  ];
  const cpu = cpus();
  return {
    date: s.startedAt.toISOString(),
    quick: s.args.quick,
    machine: machine(s.load0, s.load1),
    versions: versions(s.tools),
    settings: {
      rounds: s.args.rounds, latencyRounds: s.args.rounds + 2, variantRounds: s.args.rounds * 2, secondsPerRun: s.args.seconds, latencySecondsPerRun: s.args.latencySeconds, rate: s.rate,
      pinning: bench.pin.contender === undefined ? 'none' : `contenders: core ${bench.pin.contender}; load generator, backends, bench script: core ${bench.pin.load}`,
      loadGenerator: bench.generator, latencyGenerator: s.tools.go ? 'bench/peers/loadgen (Go, open loop, latency from scheduled send time)' : 'missing',
      backends: s.backendsKind === 'nginx' ? 'one NGINX worker (master_process off), 100 ports' : 'one Go process, GOMAXPROCS=1, 100 ports',
    },
    workloads: [...WORKLOADS.map((w) => ({ id: w.id, title: w.title, metric: 'req/s' })), { id: LATENCY.id, title: `${LATENCY.title} (${s.rate} req/s)`, metric: 'p99 ms' }],
    contenders,
    sluice: { idleRssMb: s.idleRssMb, rssUnderLoadMb: rssLoad, hwmMb: s.hwmMb, rss256: s.fresh, startToReadyMs: { median: median(s.readyRuns), runs: s.readyRuns }, costs },
    footprint: s.footprint,
    targets,
  };
}

function printTable(r: Results): void {
  const cols = ['get64', 'get256', 'big', 'post64k'];
  const rows: string[][] = [['contender', 'GET @64 req/s (x sluice)', 'CPU us/req', 'GET @256', '1 MiB', 'POST 64K', `p50/p99/p99.9 ms @${r.settings.rate}/s (p99 x sluice)`, 'RSS@256 MB*', 'bad']];
  for (const c of r.contenders) {
    if (c.missing) {
      rows.push([c.name, `MISSING: ${c.missing}`, '', '', '', '', '', '', '']);
      continue;
    }
    const cell = (id: string): string => {
      const w = c.workloads[id];
      return w ? `${fmt(w.rps)} (${fmt(w.ratioToSluice, 2)})` : '-';
    };
    const l = c.workloads.latency;
    const bad = cols.concat('latency').reduce((sum, id) => sum + (c.workloads[id]?.bad ?? 0), 0);
    rows.push([c.name, cell('get64'), fmt(c.workloads.get64?.cpuUsPerRequest ?? NaN, 1), ...cols.slice(1).map(cell), l ? `${fmt(l.p50Ms, 2)} / ${fmt(l.p99Ms, 2)} / ${fmt(l.p999Ms, 2)} (${fmt(l.ratioToSluice, 2)})` : '-', fmt(c.rssUnderLoadMb ?? NaN, 0), fmt(bad)]);
  }
  const widths = rows[0].map((_, i) => Math.max(...rows.map((row) => row[i].length)));
  log('');
  for (const [i, row] of rows.entries()) {
    log(row.map((cell, j) => (j === 0 ? cell.padEnd(widths[j]) : cell.padStart(widths[j]))).join('  '));
    if (i === 0) log(widths.map((w) => '-'.repeat(w)).join('  '));
  }
  log(`\nmedians of ${r.settings.rounds} interleaved rounds; (x sluice) = median of per-round ratios to sluice; CPU us/req: the contender's CPU time per request`);
  log('* peak VmRSS sampled during the GET @256 runs, after every workload has run at least once (warm-up)');
  const s = r.sluice;
  log(`sluice: idle RSS ${fmt(s.idleRssMb, 1)} MB; fresh process, ${s.rss256.seconds}s of small GETs at 256 connections: peak VmRSS ${fmt(s.rss256.peakRssMb, 1)} MB, VmHWM ${fmt(s.rss256.hwmMb, 1)} MB`);
  log(`sluice in the interleaved run: peak VmRSS at 256 connections ${fmt(s.rssUnderLoadMb, 1)} MB, VmHWM after every workload (1 MiB, 64 KiB bodies too) ${fmt(s.hwmMb, 1)} MB`);
  log(`sluice start-to-ready (spawn to /readyz 200): ${fmt(s.startToReadyMs.median)} ms (median of ${s.startToReadyMs.runs.length})`);
  for (const c of s.costs) log(`sluice cost of ${c.title}: ${fmt(c.costPercent, 1)}% (${fmt(c.rps)} vs ${fmt(c.baseRps)} req/s; CPU ${fmt(c.cpuUsPerRequest, 1)} vs ${fmt(c.baseCpuUsPerRequest, 1)} us/request)`);
  if (r.footprint) printFootprint(r.footprint, []);
  log('\ntargets:');
  for (const t of r.targets) log(`  ${t.met === null ? 'n/a ' : t.met ? 'MET ' : 'MISS'}  ${t.target}: ${t.value}`);
  log(`\nload average: start ${r.machine.loadAverageStart.join(' ')}, end ${r.machine.loadAverageEnd.join(' ')}`);
}

function machine(load0: number[], load1: number[]): Results['machine'] {
  const cpu = cpus();
  return { nproc: cpu.length, cpu: cpu[0]?.model ?? 'unknown', kernel: release(), memoryGb: Math.round(totalmem() / 2 ** 30 * 10) / 10, loadAverageStart: load0.map((l) => Math.round(l * 100) / 100), loadAverageEnd: load1.map((l) => Math.round(l * 100) / 100) };
}

function printFootprint(f: FootprintResult, targets: ReturnType<typeof footprintTargets>): void {
  const rows = [
    ['', 'idle MB', 'peak @256 MB'],
    ['sluice (3 static backends)', fmt(f.staticIdleMb, 1), fmt(f.peak256Mb, 1)],
    ['sluice (Kubernetes, 3 endpoints)', fmt(f.kubernetesIdleMb, 1), ''],
    [`sluice (${f.manyBackends} backends, 10 s probes)`, fmt(f.manyIdleMb, 1), ''],
    ...f.peers.map((p) => [p.name, fmt(p.idleMb, 1), fmt(p.peak256Mb, 1)]),
  ];
  const widths = rows[0].map((_, i) => Math.max(...rows.map((row) => row[i].length)));
  log('\nfootprint (VmRSS):');
  for (const row of rows) log('  ' + row.map((cell, j) => (j === 0 ? cell.padEnd(widths[j]) : cell.padStart(widths[j]))).join('  '));
  log(`  per further backend, idle: ${fmt(f.perBackendKb, 1)} KB; start to /readyz 200: ${f.startToReadyMs.join(', ')} ms; peak @256 over ${f.loadSeconds}s (${fmt(f.rps256)} req/s), VmHWM ${fmt(f.hwm256Mb, 1)} MB`);
  if (targets.length > 0) {
    log('\ntargets:');
    for (const t of targets) log(`  ${t.met === null ? 'n/a ' : t.met ? 'MET ' : 'MISS'}  ${t.target}: ${t.value}`);
  }
}

// Re-run pinned to the load core so this script never competes with a contender.
const pin = pinning();
if (pin.load !== undefined && process.env.SLUICE_BENCH_PINNED === undefined) {
  const r = spawnSync('taskset', ['-c', pin.load, process.execPath, ...process.execArgv, ...process.argv.slice(1)], { stdio: 'inherit', env: { ...process.env, SLUICE_BENCH_PINNED: '1' } });
  process.exit(r.status ?? 1);
}
try {
  const profileAt = process.argv.indexOf('--profile');
  if (profileAt >= 0) await (await import('./profile.ts')).profile(process.argv.slice(profileAt + 1));
  else await main();
} catch (err) {
  process.stderr.write(`bench failed: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
}
