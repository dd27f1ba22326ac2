// The results chart as a dependency-free SVG: throughput and p99 per contender, plus the
// machine, versions and date, so the image says where its numbers come from.

import type { Results } from '../run.ts';

const WIDTH = 960;
const BAR_H = 22;
const GAP = 8;
const LABEL_W = 120;

function wrap(text: string, width: number): string[] {
  const out: string[] = [];
  let line = '';
  for (const word of text.split(' ')) {
    if (line && line.length + 1 + word.length > width) {
      out.push(line);
      line = `  ${word}`;
    } else {
      line = line ? `${line} ${word}` : word;
    }
  }
  if (line) out.push(line);
  return out;
}

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function num(n: number, digits = 0): string {
  return Number.isFinite(n) ? n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits }) : '-';
}

interface Bar {
  name: string;
  value: number;
  label: string;
  missing?: string;
}

function panel(x: number, y: number, w: number, title: string, bars: Bar[]): string {
  const max = Math.max(...bars.map((b) => (Number.isFinite(b.value) ? b.value : 0)), 1e-9);
  const plot = w - LABEL_W - 90;
  const out = [`<text x="${x}" y="${y}" font-size="13" font-weight="bold">${esc(title)}</text>`];
  bars.forEach((b, i) => {
    const top = y + 14 + i * (BAR_H + GAP);
    out.push(`<text x="${x + LABEL_W - 8}" y="${top + 16}" font-size="13" text-anchor="end">${esc(b.name)}</text>`);
    if (b.missing || !Number.isFinite(b.value)) {
      out.push(`<text x="${x + LABEL_W}" y="${top + 16}" font-size="12" fill="#a00">${esc(b.missing ? `missing: ${b.missing}` : 'no result')}</text>`);
      return;
    }
    const len = Math.max(1, (b.value / max) * plot);
    const fill = b.name === 'sluice' ? '#2b7bb9' : b.name === 'direct' ? '#bbbbbb' : '#8a8a8a';
    out.push(`<rect x="${x + LABEL_W}" y="${top}" width="${len.toFixed(1)}" height="${BAR_H}" fill="${fill}"/>`);
    out.push(`<text x="${x + LABEL_W + len + 6}" y="${top + 16}" font-size="12">${esc(b.label)}</text>`);
  });
  return out.join('\n');
}

export function renderChart(r: Results): string {
  const n = r.contenders.length;
  const panelH = 14 + n * (BAR_H + GAP) + 30;
  const half = (WIDTH - 60) / 2;
  const rpsBars: Bar[] = r.contenders.map((c) => {
    const w = c.workloads.get64;
    const ratio = c.name === 'sluice' ? '' : ` (${num(w?.ratioToSluice ?? NaN, 2)}x)`;
    return { name: c.name, value: w?.rps ?? NaN, label: `${num(w?.rps ?? NaN)}${ratio}`, missing: c.missing };
  });
  const p99Bars: Bar[] = r.contenders.map((c) => {
    const w = c.workloads.latency;
    return { name: c.name, value: w?.p99Ms ?? NaN, label: `${num(w?.p99Ms ?? NaN, 2)} ms`, missing: c.missing };
  });
  const bigBars: Bar[] = r.contenders.map((c) => ({ name: c.name, value: c.workloads.big?.rps ?? NaN, label: num(c.workloads.big?.rps ?? NaN), missing: c.missing }));
  const postBars: Bar[] = r.contenders.map((c) => ({ name: c.name, value: c.workloads.post64k?.rps ?? NaN, label: num(c.workloads.post64k?.rps ?? NaN), missing: c.missing }));
  const s = r.sluice;
  const footer = [
    `${r.date.slice(0, 16).replace('T', ' ')} UTC${r.quick ? ' (quick run)' : ''} - ${r.machine.nproc} x ${r.machine.cpu}, Linux ${r.machine.kernel}, load avg at start ${r.machine.loadAverageStart.join(' ')}`,
    `node ${r.versions.node}, sluice ${r.versions.sluice} (${r.versions.commit}), undici ${r.versions.undici}, http-proxy ${r.versions['http-proxy']}; ${r.versions.haproxy}; ${r.versions.nginx}; ${r.versions.go}; ${r.versions.wrk}`,
    `medians of ${r.settings.rounds} interleaved rounds, ${r.settings.secondsPerRun}s per run; each contender one process/thread/worker; ${r.settings.pinning}; backends: ${r.settings.backends}`,
    `sluice: idle RSS ${num(s.idleRssMb)} MB, ${num(s.rss256.peakRssMb)} MB at 256 connections (fresh process), start-to-ready ${num(s.startToReadyMs.median)} ms; cost of ${s.costs.map((c) => `${c.name} ${num(c.costPercent, 1)}%`).join(', ')}`,
  ];
  const lines = footer.flatMap((line) => wrap(line, 150));
  const height = 50 + panelH * 2 + lines.length * 16 + 10;
  const body = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" font-family="Helvetica, Arial, sans-serif">`,
    `<rect width="100%" height="100%" fill="#ffffff"/>`,
    `<text x="20" y="28" font-size="18" font-weight="bold">sluice benchmark: one core per contender</text>`,
    panel(20, 60, half, 'small GET, 64 conns: req/s (x sluice), higher is better', rpsBars),
    panel(40 + half, 60, half, `p99 ms at ${num(r.settings.rate)} req/s (open loop), lower is better`, p99Bars),
    panel(20, 60 + panelH, half, '1 MiB response, 8 connections: req/s', bigBars),
    panel(40 + half, 60 + panelH, half, 'POST 64 KiB, 32 connections: req/s', postBars),
    ...lines.map((line, i) => `<text x="20" y="${50 + panelH * 2 + i * 16}" font-size="11" fill="#444">${esc(line)}</text>`),
    '</svg>',
    '',
  ];
  return body.join('\n');
}
