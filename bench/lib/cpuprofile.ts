// Summarises a V8 .cpuprofile (node --cpu-prof): self time per function, highest first.

import { readFileSync } from 'node:fs';
import { relative } from 'node:path';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number; columnNumber: number };
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

export interface SelfTime {
  fn: string;
  where: string;
  selfMs: number;
  percent: number;
}

export function selfTimes(file: string, root = process.cwd()): { totalMs: number; idlePercent: number; rows: SelfTime[] } {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const selfUs = new Map<number, number>();
  // timeDeltas[i] is the time before sample i; charge it to the sample's node.
  for (let i = 0; i < profile.samples.length; i++) {
    const id = profile.samples[i];
    selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0));
  }
  const byFunction = new Map<string, SelfTime>();
  let total = 0;
  let idle = 0;
  for (const [id, us] of selfUs) {
    const node = byId.get(id);
    if (!node) continue;
    total += us;
    const { functionName, url, lineNumber } = node.callFrame;
    if (functionName === '(idle)') idle += us;
    const path = url.startsWith('file://') ? relative(root, new URL(url).pathname) : url;
    const where = path ? `${path}:${lineNumber + 1}` : '';
    const key = `${functionName}@${where}`;
    const row = byFunction.get(key) ?? { fn: functionName || '(anonymous)', where, selfMs: 0, percent: 0 };
    row.selfMs += us / 1000;
    byFunction.set(key, row);
  }
  const rows = [...byFunction.values()].sort((a, b) => b.selfMs - a.selfMs);
  for (const row of rows) row.percent = (row.selfMs * 1000 / total) * 100;
  return { totalMs: total / 1000, idlePercent: (idle / total) * 100, rows };
}

export function printSelfTimes(file: string, top = 30): void {
  const { totalMs, idlePercent, rows } = selfTimes(file);
  process.stdout.write(`${file}: ${(totalMs / 1000).toFixed(1)} s sampled, ${idlePercent.toFixed(1)}% idle\n`);
  process.stdout.write(`${'self ms'.padStart(9)} ${'%'.padStart(6)}  function  (where)\n`);
  for (const r of rows.slice(0, top)) {
    process.stdout.write(`${r.selfMs.toFixed(0).padStart(9)} ${r.percent.toFixed(1).padStart(6)}  ${r.fn}  ${r.where}\n`);
  }
  const areas = Object.entries(selfTimeByArea(file)).sort((a, b) => b[1] - a[1]);
  process.stdout.write(`by area: ${areas.map(([area, pct]) => `${area} ${pct.toFixed(1)}%`).join(', ')}\n`);
}

if (import.meta.main) {
  const [file, top] = process.argv.slice(2);
  if (!file) throw new Error('usage: node bench/lib/cpuprofile.ts FILE.cpuprofile [TOP]');
  printSelfTimes(file, Number(top ?? 30));
}

/** Self time by where the code lives: sluice's src/, undici, Node's own JS, native/V8/GC, idle. */
export function selfTimeByArea(file: string): Record<string, number> {
  const { totalMs, rows } = selfTimes(file);
  const areas: Record<string, number> = {};
  for (const r of rows) {
    const area = r.fn === '(idle)' ? 'idle'
      : r.fn === '(garbage collector)' ? 'gc'
      : r.where.startsWith('src/') ? 'sluice src/'
      : r.where.includes('node_modules/undici') || r.where.startsWith('wasm') ? 'undici'
      : r.where.startsWith('node:') ? 'node js'
      : r.where.includes('node_modules/') ? 'other deps'
      : 'native/syscalls/v8';
    areas[area] = (areas[area] ?? 0) + (r.selfMs / totalMs) * 100;
  }
  return areas;
}
