// Child processes, CPU pinning, ports and /proc readings for the benchmark.

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { cpus } from 'node:os';

/** Which core runs what: contenders on one, load generator and backends on the other. */
export interface Pinning {
  contender: string | undefined;
  load: string | undefined;
}

export function has(command: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' }).status === 0;
}

export function pinning(): Pinning {
  const cores = readCpuCount();
  if (!has('taskset') || cores < 2) return { contender: undefined, load: undefined };
  return { contender: '0', load: cores === 2 ? '1' : `1-${cores - 1}` };
}

/** Every online CPU, not just those this process may run on (the bench re-runs itself pinned). */
function readCpuCount(): number {
  return cpus().length;
}

/** argv prefixed with `taskset -c CORES` when pinning is available. */
export function pinned(cores: string | undefined, argv: string[]): string[] {
  return cores === undefined ? argv : ['taskset', '-c', cores, ...argv];
}

const running = new Set<ChildProcess>();

export interface Started {
  child: ChildProcess;
  /** Resolves with the exit code (or -1 when killed by a signal). */
  exited: Promise<number>;
}

/** Starts a long-running helper; its stdout and stderr go to `logFile`. Killed when the bench exits. */
export function startProcess(argv: string[], logFile: string, env: NodeJS.ProcessEnv = {}): Started {
  const fd = openSync(logFile, 'a');
  const child = spawn(argv[0], argv.slice(1), { stdio: ['ignore', fd, fd], env: { ...process.env, ...env } });
  closeSync(fd);
  running.add(child);
  const exited = new Promise<number>((resolve) => child.once('exit', (code) => {
    running.delete(child);
    resolve(code ?? -1);
  }));
  child.once('error', () => { running.delete(child); });
  return { child, exited };
}

export async function stopProcess(started: Started, graceMs = 5_000): Promise<void> {
  const { child } = started;
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await started.exited;
  clearTimeout(timer);
}

export function killAll(): void {
  for (const child of running) child.kill('SIGKILL');
}

/** Runs a command to completion (bounded by `timeoutMs`), capturing stdout and stderr. */
export function run(argv: string[], timeoutMs: number, env: NodeJS.ProcessEnv = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(argv[0], argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
    running.add(child);
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => { stdout += s; });
    child.stderr.setEncoding('utf8').on('data', (s: string) => { stderr += s; });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('error', (err) => { stderr += String(err); });
    child.once('close', (code) => {
      clearTimeout(timer);
      running.delete(child);
      resolve({ code: code ?? -1, stdout, stderr });
    });
  });
}

/** A port free right now on 127.0.0.1 (the kernel picks it). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

export async function freePorts(n: number): Promise<number[]> {
  const ports = new Set<number>();
  while (ports.size < n) ports.add(await freePort());
  return [...ports];
}

/** Polls until `url` answers 200, or throws after `timeoutMs`. Returns the ms it took. */
export async function waitForOk(url: string, timeoutMs: number, what: string, exited?: Started): Promise<number> {
  const started = performance.now();
  const deadline = started + timeoutMs;
  for (;;) {
    if (exited && (exited.child.exitCode !== null || exited.child.signalCode !== null)) throw new Error(`${what} exited before it was ready`);
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(1000) });
      await res.arrayBuffer();
      if (res.status === 200) return performance.now() - started;
    } catch {
      // not up yet
    }
    if (performance.now() > deadline) throw new Error(`${what} did not answer 200 at ${url} within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** VmRSS and VmHWM of a process in MB, from /proc/PID/status. */
export function memoryOf(pid: number | undefined): { rssMb: number; hwmMb: number } | undefined {
  if (pid === undefined) return undefined;
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (key: string): number => Number(/\s(\d+) kB/.exec(status.split('\n').find((l) => l.startsWith(key)) ?? '')?.[1] ?? NaN);
    return { rssMb: kb('VmRSS:') / 1024, hwmMb: kb('VmHWM:') / 1024 };
  } catch {
    return undefined;
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** CPU time (user + system, all threads) a process has used so far, in ms; from /proc/PID/stat. */
export function cpuMs(pid: number | undefined): number {
  if (pid === undefined) return NaN;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLOCK_TICKS;
  } catch {
    return NaN;
  }
}

const CLOCK_TICKS = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout?.trim()) || 100;
