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
  const half = (WIDTH - 60) / 2;
  // HTTP/2 panels (h2) leave out the contenders that do not speak it.
  const bars = (id: string, value: 'rps' | 'p99Ms', ratio: boolean, h2 = false): Bar[] => r.contenders
    .filter((c) => !h2 || c.missing || c.workloads[id])
    .map((c) => {
      const w = c.workloads[id];
      const v = w?.[value] ?? NaN;
      const label = value === 'p99Ms' ? `${num(v, 2)} ms` : `${num(v)}${ratio && c.name !== 'sluice' ? ` (${num(w?.ratioToSluice ?? NaN, 2)}x)` : ''}`;
      return { name: c.name, value: v, label, missing: c.missing };
    });
  const panels: { title: string; bars: Bar[] }[] = [];
  if (r.only !== 'h2') {
    panels.push(
      { title: 'small GET, 64 conns: req/s (x sluice), higher is better', bars: bars('get64', 'rps', true) },
      { title: `p99 ms at ${num(r.settings.rate)} req/s (open loop), lower is better`, bars: bars('latency', 'p99Ms', false) },
      { title: '1 MiB response, 8 connections: req/s', bars: bars('big', 'rps', false) },
      { title: 'POST 64 KiB, 32 connections: req/s', bars: bars('post64k', 'rps', false) },
    );
  }
  const has = (id: string): boolean => r.contenders.some((c) => c.workloads[id]);
  if (has('h2c-get')) panels.push({ title: 'h2c GET, 4 conns x 16 streams: req/s (x sluice)', bars: bars('h2c-get', 'rps', true, true) });
  if (has('grpc-unary')) panels.push({ title: 'gRPC unary, h2c both sides, 4 x 16: calls/s (x sluice)', bars: bars('grpc-unary', 'rps', true, true) });
  if (has('grpc-latency')) panels.push({ title: `gRPC p99 ms at ${num(r.settings.grpcRate)} calls/s (open loop)`, bars: bars('grpc-latency', 'p99Ms', false, true) });
  const panelH = (p: { bars: Bar[] }): number => 14 + p.bars.length * (BAR_H + GAP) + 30;
  const rowHeights: number[] = [];
  for (let i = 0; i < panels.length; i += 2) rowHeights.push(Math.max(panelH(panels[i]), panels[i + 1] ? panelH(panels[i + 1]) : 0));
  const rowTop = (row: number): number => 60 + rowHeights.slice(0, row).reduce((a, b) => a + b, 0);
  const plotsH = rowHeights.reduce((a, b) => a + b, 0);
  const s = r.sluice;
  const footer = [
    `${r.date.slice(0, 16).replace('T', ' ')} UTC${r.quick ? ' (quick run)' : ''}${r.only ? ` (--only ${r.only})` : ''} - ${r.machine.nproc} x ${r.machine.cpu}, Linux ${r.machine.kernel}, load avg at start ${r.machine.loadAverageStart.join(' ')}`,
    `node ${r.versions.node}, sluice ${r.versions.sluice} (${r.versions.commit}), undici ${r.versions.undici}, http-proxy ${r.versions['http-proxy']}; ${r.versions.haproxy}; ${r.versions.nginx}; ${r.versions.go}; ${r.versions.wrk}; ${r.versions.h2load}; grpc-go ${r.versions['grpc-go']}`,
    `medians of ${r.settings.rounds} interleaved rounds, ${r.settings.secondsPerRun}s per run; each contender one process/thread/worker; ${r.settings.pinning}; backends: ${r.settings.backends}`,
    ...(r.only === 'h2' ? [] : [`sluice: idle RSS ${num(s.idleRssMb)} MB, ${num(s.rss256.peakRssMb)} MB at 256 connections (fresh process), start-to-ready ${num(s.startToReadyMs.median)} ms; cost of ${s.costs.map((c) => `${c.name} ${num(c.costPercent, 1)}%`).join(', ')}`]),
  ];
  const lines = footer.flatMap((line) => wrap(line, 150));
  const height = 50 + plotsH + lines.length * 16 + 10;
  const body = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" font-family="Helvetica, Arial, sans-serif">`,
    `<rect width="100%" height="100%" fill="#ffffff"/>`,
    `<text x="20" y="28" font-size="18" font-weight="bold">sluice benchmark: one core per contender</text>`,
    ...panels.map((p, i) => panel(i % 2 === 0 ? 20 : 40 + half, rowTop(i >> 1), half, p.title, p.bars)),
    ...lines.map((line, i) => `<text x="20" y="${50 + plotsH + i * 16}" font-size="11" fill="#444">${esc(line)}</text>`),
    '</svg>',
    '',
  ];
  return body.join('\n');
}
