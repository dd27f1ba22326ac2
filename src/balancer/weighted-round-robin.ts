// Smooth weighted round robin (the nginx algorithm): over any window of sum(weights) picks each
// backend is chosen `weight` times, interleaved rather than in bursts. Weights may be fractional
// and change between picks (slow start ramps them).

import type { Backend } from '../pool/backend.ts';
import type { BalancerName } from '../config/config.ts';
import type { Balancer, WeightOf } from './balancer.ts';

export class WeightedRoundRobin implements Balancer {
  readonly name: BalancerName;
  private readonly current = new WeakMap<Backend, number>();
  private readonly weightOf: WeightOf;

  constructor(weightOf: WeightOf = (b) => b.weight, name: BalancerName = 'weighted-round-robin') {
    this.weightOf = weightOf;
    this.name = name;
  }

  pick(candidates: readonly Backend[], exclude?: readonly Backend[]): Backend | undefined {
    let total = 0;
    let best: Backend | undefined;
    let bestScore = -Infinity;
    for (const backend of candidates) {
      if (exclude !== undefined && exclude.includes(backend)) continue;
      const weight = this.weightOf(backend);
      const score = (this.current.get(backend) ?? 0) + weight;
      this.current.set(backend, score);
      total += weight;
      if (score > bestScore) {
        bestScore = score;
        best = backend;
      }
    }
    if (best !== undefined) this.current.set(best, bestScore - total);
    return best;
  }
}
