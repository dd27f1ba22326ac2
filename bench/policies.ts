// Each balancing policy's cost against round robin, same backends, same load, interleaved:
//   node bench/policies.ts [ROUNDS] [SECONDS] [CONNECTIONS]
// wrk sends the same request every time, so consistent-hash (hashOn: path) sees one hot key and
// walks its bounded-load ring on most requests, and sticky sets a cookie on every response (wrk
// never sends it back): both are their worst case. CPU time per request is the robust figure on
// a shared machine; req/s moves with whatever else runs.

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { wrk } from './lib/load.ts';
import { cpuMs, freePort, killAll, pinned, pinning, startProcess, stopProcess, waitForOk, type Started } from './lib/procs.ts';
import { ROOT, startBackends, waitAllHealthy } from './lib/servers.ts';

const [roundsArg, secondsArg, connArg] = process.argv.slice(2);
const rounds = Number(roundsArg ?? 6);
const seconds = Number(secondsArg ?? 3);
const connections = Number(connArg ?? 64);
const pin = pinning();
const dir = mkdtempSync(join(tmpdir(), 'sluice-policies-'));
const median = (v: number[]): number => {
  const s = [...v].sort((a, b) => a - b);
  return s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

const POLICIES: [string, string][] = [
  ['round-robin', 'balancer: round-robin'],
  ['least-request', 'balancer: least-request'],
  ['random', 'balancer: random'],
  ['consistent-hash', 'balancer:\n  policy: consistent-hash\n  hashOn: path'],
  ['sticky (round-robin)', 'stickySession:\n  cookie: pin'],
  ['least-request + slowStart', 'balancer: least-request\nslowStart: 30s'],
];

interface Running { name: string; url: string; proc: Started }

try {
  const backends = await startBackends(dir, 3, { wrk: true, haproxy: false, nginx: true, go: undefined }, pin.load);
  const running: Running[] = [];
  for (const [i, [name, extra]] of POLICIES.entries()) {
    const [port, admin] = [await freePort(), await freePort()];
    const config = join(dir, `p${i}.yaml`);
    writeFileSync(config, [`listen: "127.0.0.1:${port}"`, 'admin:', `  listen: "127.0.0.1:${admin}"`, extra, 'backends:', ...backends.ports.map((p) => `  - url: http://127.0.0.1:${p}`), ''].join('\n'));
    const proc = startProcess(pinned(pin.contender, [process.execPath, join(ROOT, 'bin/sluice.js'), '--config', config]), join(dir, `p${i}.log`));
    await waitForOk(`http://127.0.0.1:${admin}/readyz`, 20_000, name, proc);
    await waitAllHealthy(`http://127.0.0.1:${admin}`, backends.ports.length);
    running.push({ name, url: `http://127.0.0.1:${port}`, proc });
  }
  const workload = { id: 'policies', title: 'small GET', path: '/', connections };
  for (const s of running) await wrk(dir, pin.load, s.url, workload, 2); // warm-up
  const rps = running.map(() => [] as number[]);
  const cpu = running.map(() => [] as number[]);
  for (let r = 0; r < rounds; r++) {
    // Rotate the order each round so drift in background load does not favour one policy.
    for (let k = 0; k < running.length; k++) {
      const i = (k + r) % running.length;
      const s = running[i];
      const before = cpuMs(s.proc.child.pid);
      const m = await wrk(dir, pin.load, s.url, workload, seconds);
      if (m.bad !== 0) process.stdout.write(`  ${s.name}: ${m.bad} bad (${m.error ?? ''})\n`);
      rps[i].push(m.rps);
      cpu[i].push(((cpuMs(s.proc.child.pid) - before) * 1000) / m.requests);
    }
    process.stdout.write(`round ${r + 1}/${rounds} done\n`);
  }
  const base = { rps: median(rps[0]), cpu: median(cpu[0]) };
  process.stdout.write(`\nc=${connections}, ${rounds} rounds x ${seconds}s, medians:\n`);
  for (const [i, s] of running.entries()) {
    const [r, c] = [median(rps[i]), median(cpu[i])];
    process.stdout.write(`${s.name.padEnd(28)} ${r.toFixed(0).padStart(6)} req/s (x${(r / base.rps).toFixed(3)})  ${c.toFixed(1).padStart(6)} us CPU/req (x${(c / base.cpu).toFixed(3)})\n`);
  }
  for (const s of running) await stopProcess(s.proc);
  await backends.stop();
} finally {
  killAll();
  rmSync(dir, { recursive: true, force: true });
}
