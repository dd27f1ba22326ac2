// A/B of two sluice trees under the same conditions, for commit messages:
//   node bench/ab.ts OTHER_TREE [ROUNDS] [SECONDS] [CONNECTIONS] [BACKENDS]
// OTHER_TREE holds the "before" (e.g. `git archive HEAD~1 src bin package.json | tar -x -C /tmp/before`
// with node_modules linked); this tree is "after". Runs are interleaved A B A B ...; prints medians
// and the median of per-round ratios. Same pinning and backends as npm run bench.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { wrk } from './lib/load.ts';
import { cpuMs, killAll, memoryOf, pinning, stopProcess } from './lib/procs.ts';
import { ROOT, startBackends, startSluice, waitAllHealthy } from './lib/servers.ts';

const [other, roundsArg, secondsArg, connArg, backendsArg] = process.argv.slice(2);
if (!other) throw new Error('usage: node bench/ab.ts OTHER_TREE [ROUNDS] [SECONDS] [CONNECTIONS] [BACKENDS]');
const rounds = Number(roundsArg ?? 6);
const seconds = Number(secondsArg ?? 3);
const connections = Number(connArg ?? 64);
const backendCount = Number(backendsArg ?? 3);
const pin = pinning();
const dir = mkdtempSync(join(tmpdir(), 'sluice-ab-'));
const median = (v: number[]): number => {
  const s = [...v].sort((a, b) => a - b);
  return s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
try {
  const backends = await startBackends(dir, backendCount, { wrk: true, haproxy: false, nginx: true, go: undefined }, pin.load);
  const a = await startSluice(dir, 'before', backends.ports, pin.contender, { bin: join(other, 'bin/sluice.js') });
  const b = await startSluice(dir, 'after', backends.ports, pin.contender, { bin: join(ROOT, 'bin/sluice.js') });
  await waitAllHealthy(a.adminUrl, backendCount);
  await waitAllHealthy(b.adminUrl, backendCount);
  const workload = { id: 'ab', title: 'small GET', path: '/', connections };
  for (const s of [a, b]) await wrk(dir, pin.load, s.url, workload, 2);
  const rps: [number[], number[]] = [[], []];
  // CPU time per request: robust against other processes stealing the core (rps is not).
  const cpu: [number[], number[]] = [[], []];
  const ratios: number[] = [];
  const cpuRatios: number[] = [];
  for (let r = 0; r < rounds; r++) {
    // ABBA order, so drift in background load does not favour one side.
    const order = r % 2 === 0 ? [0, 1] : [1, 0];
    for (const i of order) {
      const s = [a, b][i];
      const before = cpuMs(s.proc.child.pid);
      const m = await wrk(dir, pin.load, s.url, workload, seconds);
      cpu[i][r] = ((cpuMs(s.proc.child.pid) - before) * 1000) / m.requests;
      if (m.bad !== 0) process.stdout.write(`  ${i ? 'after' : 'before'}: ${m.error}\n`);
      rps[i][r] = m.rps;
    }
    ratios.push(rps[1][r] / rps[0][r]);
    cpuRatios.push(cpu[1][r] / cpu[0][r]);
    process.stdout.write(`round ${r + 1}: before ${rps[0][r].toFixed(0)} req/s ${cpu[0][r].toFixed(1)} us/req, after ${rps[1][r].toFixed(0)} req/s ${cpu[1][r].toFixed(1)} us/req  (rps x${ratios[r].toFixed(3)}, cpu x${cpuRatios[r].toFixed(3)})\n`);
  }
  const mem = [memoryOf(a.proc.child.pid), memoryOf(b.proc.child.pid)];
  process.stdout.write(`c=${connections}: before ${median(rps[0]).toFixed(0)} req/s ${median(cpu[0]).toFixed(1)} us/req, after ${median(rps[1]).toFixed(0)} req/s ${median(cpu[1]).toFixed(1)} us/req; after/before: rps x${median(ratios).toFixed(3)}, cpu/req x${median(cpuRatios).toFixed(3)} (medians of ${rounds} rounds); VmHWM before ${mem[0]?.hwmMb.toFixed(0)} MB, after ${mem[1]?.hwmMb.toFixed(0)} MB\n`);
  await stopProcess(a.proc);
  await stopProcess(b.proc);
  await backends.stop();
} finally {
  killAll();
  rmSync(dir, { recursive: true, force: true });
}
