// `npm run bench -- --footprint`: sluice's memory and start-up against the issue-10 targets, with
// the peers' memory measured the same way in the same run. Also part of the full run.
//
// Every sluice is the staged package (compiled dist/, started by its own bin), as users run it.
// RSS is VmRSS from /proc/PID/status; "idle" is the median of 10 samples 100 ms apart, taken after
// start-up and the first health probes, before any traffic.

import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { wrk, type Workload } from './lib/load.ts';
import { memoryOf, pinned, sleep, startProcess, stopProcess, type Pinning, type Started } from './lib/procs.ts';
import { ROOT, startSluice, startSluiceWith, waitAllHealthy, type Contender, type StartedSluice } from './lib/servers.ts';

export interface FootprintResult {
  staticIdleMb: number;
  kubernetesIdleMb: number;
  /** Idle RSS with `manyBackends` static backends at the default 10 s probes, and per backend over 3. */
  manyBackends: number;
  manyIdleMb: number;
  perBackendKb: number;
  /** Fresh sluice, small GETs at 256 connections for `loadSeconds`: highest VmRSS sampled and VmHWM. */
  peak256Mb: number;
  hwm256Mb: number;
  rps256: number;
  loadSeconds: number;
  startToReadyMs: number[];
  /** Peers, same run: idle (at the start of the run) and highest VmRSS at 256 connections of small GETs. */
  peers: { name: string; idleMb: number; peak256Mb: number }[];
}

const GET256: Workload = { id: 'get256', title: 'small GET, 256 connections', path: '/', connections: 256 };

function median(values: number[]): number {
  const sorted = values.filter(Number.isFinite).sort((a, b) => a - b);
  if (sorted.length === 0) return NaN;
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** Median of 10 VmRSS samples, 100 ms apart. */
export async function idleRss(pid: number | undefined): Promise<number> {
  const samples: number[] = [];
  for (let i = 0; i < 10; i++) {
    samples.push(memoryOf(pid)?.rssMb ?? NaN);
    await sleep(100);
  }
  return median(samples);
}

/** Runs `work` while sampling VmRSS every 100 ms; the highest sample. */
async function peakDuring<T>(pid: number | undefined, work: () => Promise<T>): Promise<{ result: T; peakMb: number }> {
  let peak = 0;
  const timer = setInterval(() => { peak = Math.max(peak, memoryOf(pid)?.rssMb ?? 0); }, 100);
  try {
    const result = await work();
    return { result, peakMb: Math.max(peak, memoryOf(pid)?.rssMb ?? 0) };
  } finally {
    clearInterval(timer);
  }
}

/** A helper that prints one line (its ports, as JSON) once it is listening. */
async function startHelper(argv: string[], core: string | undefined, dir: string, name: string): Promise<{ proc: Started; line: string }> {
  const child = spawn(pinned(core, argv)[0], pinned(core, argv).slice(1), { stdio: ['ignore', 'pipe', 'inherit'] });
  const line = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk;
      if (out.includes('\n')) resolve(out.split('\n')[0]);
    });
    child.once('exit', (code) => reject(new Error(`${name} exited (${code})`)));
  });
  const exited = new Promise<number>((resolve) => child.once('exit', (code) => resolve(code ?? -1)));
  void dir;
  return { proc: { child, exited }, line };
}

function pid(s: StartedSluice): number | undefined {
  return s.proc.child.pid;
}

export async function measureFootprint(dir: string, pin: Pinning, three: number[], options: { quick: boolean; hasWrk: boolean; peers: Contender[]; peerIdle: Record<string, number>; log: (line: string) => void }): Promise<FootprintResult> {
  const { log } = options;
  const loadSeconds = options.quick ? 4 : 8;
  const MANY = 1000;

  // Start-to-ready: fresh processes, spawn to the first /readyz 200 (needs a passing probe).
  const startToReadyMs: number[] = [];
  for (let i = 0; i < (options.quick ? 3 : 5); i++) {
    const s = await startSluice(dir, `fp-ready-${i}`, three, pin.contender);
    startToReadyMs.push(Math.round(s.readyMs));
    await stopProcess(s.proc);
  }
  log(`footprint: start to /readyz 200: ${startToReadyMs.join(', ')} ms`);

  // Idle: 3 static backends, and 1,000 static backends at the default 10 s probes, side by side
  // and the same age: after two probe rounds (every backend healthy), sampled together.
  const many = await startHelper([process.execPath, join(ROOT, 'bench/peers/many-backends.ts'), String(MANY)], pin.load, dir, 'many-backends');
  const manyPorts = JSON.parse(many.line) as number[];
  const small = await startSluice(dir, 'fp-static', three, pin.contender);
  const big = await startSluice(dir, 'fp-many', manyPorts, pin.contender);
  await waitAllHealthy(big.adminUrl, MANY, 60_000);
  await sleep(options.quick ? 3_000 : 12_000);
  const [staticIdleMb, manyIdleMb] = await Promise.all([idleRss(pid(small)), idleRss(pid(big))]);
  const perBackendKb = ((manyIdleMb - staticIdleMb) * 1024) / (MANY - three.length);
  log(`footprint: idle, 3 static backends: ${staticIdleMb.toFixed(1)} MB; ${MANY} backends (10 s probes): ${manyIdleMb.toFixed(1)} MB, ${perBackendKb.toFixed(1)} KB per further backend`);
  await stopProcess(big.proc);
  await stopProcess(small.proc);
  await stopProcess(many.proc);

  // Kubernetes discovery, 3 endpoints, from a stand-in API server (memory only).
  const api = await startHelper([process.execPath, join(ROOT, 'bench/peers/fake-apiserver.ts'), three.join(',')], pin.load, dir, 'fake-apiserver');
  const kubeconfig = join(dir, 'fp-kubeconfig.yaml');
  writeFileSync(kubeconfig, [
    'apiVersion: v1', 'kind: Config', 'current-context: bench',
    'clusters:', `- name: bench`, '  cluster:', `    server: http://127.0.0.1:${api.line.trim()}`, '    insecure-skip-tls-verify: true',
    'users:', '- name: bench', '  user:', '    token: bench',
    'contexts:', '- name: bench', '  context:', '    cluster: bench', '    user: bench', '    namespace: default',
    '',
  ].join('\n'));
  const k8s = await startSluiceWith(dir, 'fp-kubernetes', pin.contender,
    ['discovery:', '  kubernetes:', '    service: bench', '    namespace: default', '    port: http'],
    { extraArgs: ['--kubeconfig', kubeconfig], env: { KUBERNETES_SERVICE_HOST: '' } });
  await waitAllHealthy(k8s.adminUrl, 3);
  await sleep(2_000);
  const kubernetesIdleMb = await idleRss(pid(k8s));
  log(`footprint: idle, Kubernetes discovery with 3 endpoints: ${kubernetesIdleMb.toFixed(1)} MB`);
  await stopProcess(k8s.proc);
  await stopProcess(api.proc);

  // Peak at 256 connections of small GETs, on a fresh sluice; then each peer the same way.
  let peak256Mb = NaN;
  let hwm256Mb = NaN;
  let rps256 = NaN;
  const peers: FootprintResult['peers'] = [];
  if (options.hasWrk) {
    const fresh = await startSluice(dir, 'fp-256', three, pin.contender);
    await waitAllHealthy(fresh.adminUrl, 3);
    const { result, peakMb } = await peakDuring(pid(fresh), () => wrk(dir, pin.load, fresh.url, GET256, loadSeconds));
    peak256Mb = peakMb;
    hwm256Mb = memoryOf(pid(fresh))?.hwmMb ?? NaN;
    rps256 = result.rps;
    log(`footprint: fresh sluice, ${loadSeconds}s of small GETs at 256 connections: peak VmRSS ${peakMb.toFixed(1)} MB, VmHWM ${hwm256Mb.toFixed(1)} MB (${Math.round(result.rps)} req/s${result.bad ? `, ${result.bad} bad` : ''})`);
    await stopProcess(fresh.proc);
    for (const peer of options.peers.filter((c) => c.pid !== undefined && c.url !== undefined && c.name !== 'sluice')) {
      const idleMb = options.peerIdle[peer.name] ?? NaN;
      const { peakMb: peerPeak } = await peakDuring(peer.pid, () => wrk(dir, pin.load, peer.url!, GET256, loadSeconds));
      peers.push({ name: peer.name, idleMb, peak256Mb: peerPeak });
      log(`footprint: ${peer.name}: idle ${idleMb.toFixed(1)} MB, peak at 256 connections ${peerPeak.toFixed(1)} MB`);
    }
  }
  return { staticIdleMb, kubernetesIdleMb, manyBackends: MANY, manyIdleMb, perBackendKb, peak256Mb, hwm256Mb, rps256, loadSeconds, startToReadyMs, peers };
}

export function footprintTargets(f: FootprintResult): { target: string; value: string; met: boolean | null }[] {
  const check = (v: number, ok: (v: number) => boolean): boolean | null => (Number.isFinite(v) ? ok(v) : null);
  const ready = median(f.startToReadyMs);
  const manyExtra = f.manyIdleMb - f.staticIdleMb;
  return [
    { target: 'idle RSS <= 75 MB, static config (3 backends)', value: `${f.staticIdleMb.toFixed(1)} MB`, met: check(f.staticIdleMb, (v) => v <= 75) },
    { target: 'idle RSS <= 90 MB, Kubernetes discovery with 3 endpoints', value: `${f.kubernetesIdleMb.toFixed(1)} MB`, met: check(f.kubernetesIdleMb, (v) => v <= 90) },
    { target: `<= 50 KB per further backend, idle (${f.manyBackends} backends at 10 s probes within +50 MB)`, value: `${f.perBackendKb.toFixed(1)} KB (+${manyExtra.toFixed(1)} MB)`, met: check(f.perBackendKb, (v) => v <= 50) },
    { target: 'peak RSS <= 100 MB at 256 connections of small GETs (fresh sluice)', value: `${f.peak256Mb.toFixed(1)} MB`, met: check(f.peak256Mb, (v) => v <= 100) },
    { target: 'start to /readyz 200 < 300 ms (median)', value: `${Math.round(ready)} ms`, met: check(ready, (v) => v < 300) },
  ];
}
