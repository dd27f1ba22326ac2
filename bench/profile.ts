// `npm run bench -- --profile [SECONDS] [CONNECTIONS] [BACKENDS]`: sluice under `node --cpu-prof`, pinned like
// in the benchmark, loaded with wrk (small GET) for SECONDS (default 10), then the top self-time
// functions of the profile. The .cpuprofile stays in bench/results/ (git-ignored) for DevTools.

import { mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { printSelfTimes } from './lib/cpuprofile.ts';
import { wrk } from './lib/load.ts';
import { has, killAll, pinning, stopProcess } from './lib/procs.ts';
import { ROOT, startBackends, startSluice, waitAllHealthy } from './lib/servers.ts';

export async function profile(argv: string[]): Promise<void> {
  const seconds = Number(argv[0] ?? 10);
  const connections = Number(argv[1] ?? 64);
  const backendCount = Number(argv[2] ?? 3);
  if (!has('wrk')) throw new Error('profiling needs wrk');
  const pin = pinning();
  const dir = mkdtempSync(join(tmpdir(), 'sluice-profile-'));
  const profDir = join(dir, 'prof');
  try {
    const backends = await startBackends(dir, backendCount, { wrk: true, haproxy: false, nginx: has('nginx'), go: undefined }, pin.load);
    const sluice = await startSluice(dir, 'sluice', backends.ports, pin.contender, { nodeFlags: ['--cpu-prof', `--cpu-prof-dir=${profDir}`] });
    await waitAllHealthy(sluice.adminUrl, backendCount);
    const workload = { id: 'get', title: 'small GET', path: '/', connections };
    await wrk(dir, pin.load, sluice.url, workload, 2);
    const m = await wrk(dir, pin.load, sluice.url, workload, seconds);
    process.stdout.write(`sluice under --cpu-prof: ${m.rps.toFixed(0)} req/s, p99 ${m.p99Ms.toFixed(2)} ms, bad ${m.bad}\n`);
    await stopProcess(sluice.proc, 20_000);
    await backends.stop();
    const file = readdirSync(profDir).find((f) => f.endsWith('.cpuprofile'));
    if (!file) throw new Error('no .cpuprofile written');
    const out = join(ROOT, 'bench/results', 'sluice.cpuprofile');
    mkdirSync(join(ROOT, 'bench/results'), { recursive: true });
    renameSync(join(profDir, file), out);
    printSelfTimes(out, 40);
  } finally {
    killAll();
    rmSync(dir, { recursive: true, force: true });
  }
}
