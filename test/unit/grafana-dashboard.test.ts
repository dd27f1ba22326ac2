import { expect } from 'chai';
import { readFileSync } from 'node:fs';

const read = (path: string): string => readFileSync(new URL(`../../${path}`, import.meta.url), 'utf8');

interface Panel {
  type: string;
  title: string;
  gridPos: { x: number; y: number; w: number; h: number };
  targets?: { expr: string }[];
}

describe('Grafana dashboard (deploy/grafana)', () => {
  const dashboard = JSON.parse(read('deploy/grafana/sluice-dashboard.json')) as { uid: string; panels: Panel[] };
  // Every name metrics.ts can expose, as written there.
  const exposed = new Set([...read('src/observers/metrics.ts').matchAll(/'((?:sluice|process|nodejs)_[a-z_]+)'/g)].map((m) => m[1]));

  it('queries only metrics that sluice exposes', () => {
    const exprs = dashboard.panels.flatMap((p) => p.targets ?? []).map((t) => t.expr);
    expect(exprs.length).to.be.greaterThan(20);
    const used = new Set(exprs.flatMap((e) => [...e.matchAll(/\b((?:sluice|process|nodejs)_[a-z_]+)/g)].map((m) => m[1].replace(/_(bucket|sum|count)$/, ''))));
    const unknown = [...used].filter((name) => !exposed.has(name));
    expect(unknown, 'metric names not in src/observers/metrics.ts').to.deep.equal([]);
    expect(used).to.include('sluice_requests_total').and.to.include('sluice_request_duration_seconds');
  });

  it('lays its panels out without overlaps, inside 24 columns', () => {
    const cells = new Set<string>();
    for (const p of dashboard.panels) {
      expect(p.gridPos.x + p.gridPos.w, p.title).to.be.at.most(24);
      for (let x = p.gridPos.x; x < p.gridPos.x + p.gridPos.w; x++) {
        for (let y = p.gridPos.y; y < p.gridPos.y + p.gridPos.h; y++) {
          expect(cells.has(`${x},${y}`), `${p.title} overlaps at ${x},${y}`).to.equal(false);
          cells.add(`${x},${y}`);
        }
      }
    }
  });
});
