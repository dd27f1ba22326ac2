// Random choice in proportion to weight. No state at all: useful when many sluice replicas
// balance the same backends and should not march through them in step.

import type { Backend } from '../pool/backend.ts';
import type { Balancer, WeightOf } from './balancer.ts';

export class RandomPick implements Balancer {
  readonly name = 'random';
  private readonly weightOf: WeightOf;
  private readonly random: () => number;

  constructor(weightOf: WeightOf = (b) => b.weight, random: () => number = Math.random) {
    this.weightOf = weightOf;
    this.random = random;
  }

  pick(candidates: readonly Backend[], exclude?: readonly Backend[]): Backend | undefined {
    const allowed = exclude === undefined || exclude.length === 0 ? candidates : candidates.filter((b) => !exclude.includes(b));
    if (allowed.length <= 1) return allowed[0];
    return allowed[drawWeighted(allowed, allowed.map(this.weightOf), this.random, -1)];
  }
}

/** An index drawn in proportion to `weights`, never `skip` (-1: none); the list has at least two entries. */
export function drawWeighted(items: readonly unknown[], weights: readonly number[], random: () => number, skip: number): number {
  let total = 0;
  for (let i = 0; i < weights.length; i++) if (i !== skip) total += weights[i];
  if (!(total > 0)) {
    // Every weight zero: uniform over the others.
    const i = Math.floor(random() * (items.length - (skip >= 0 ? 1 : 0)));
    return skip >= 0 && i >= skip ? i + 1 : i;
  }
  let r = random() * total;
  let last = -1;
  for (let i = 0; i < weights.length; i++) {
    if (i === skip) continue;
    last = i;
    r -= weights[i];
    if (r < 0) return i;
  }
  return last; // rounding at the very top of the range
}
