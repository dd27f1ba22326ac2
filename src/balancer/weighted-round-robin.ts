// Smooth weighted round robin (the nginx algorithm): over any window of sum(weights) picks each
// backend is chosen `weight` times, interleaved rather than in bursts.

import type { Backend } from '../pool/backend.ts';
import type { Balancer } from './balancer.ts';

export class WeightedRoundRobin implements Balancer {
  readonly name = 'weighted-round-robin';
  private readonly current = new WeakMap<Backend, number>();

  pick(candidates: readonly Backend[], exclude?: readonly Backend[]): Backend | undefined {
    let total = 0;
    let best: Backend | undefined;
    let bestScore = -Infinity;
    for (const backend of candidates) {
      if (exclude !== undefined && exclude.includes(backend)) continue;
      const score = (this.current.get(backend) ?? 0) + backend.weight;
      this.current.set(backend, score);
      total += backend.weight;
      if (score > bestScore) {
        bestScore = score;
        best = backend;
      }
    }
    if (best !== undefined) this.current.set(best, bestScore - total);
    return best;
  }
}
