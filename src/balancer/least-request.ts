// Least request with the power of two choices (P2C), as Envoy and Linkerd default to: draw two
// different backends at random (in proportion to their weights), send to the one with fewer
// requests in flight per unit of weight. Slow backends pile up in-flight requests and so stop
// winning, with no shared state and O(1) work when weights are equal. Ties go to the first draw,
// so at zero load the share follows the weights.

import type { Backend } from '../pool/backend.ts';
import type { Balancer, WeightOf } from './balancer.ts';
import { drawWeighted } from './random.ts';

export class LeastRequest implements Balancer {
  readonly name = 'least-request';
  private readonly weightOf: WeightOf;
  private readonly random: () => number;
  /** Weights change only with the candidate set (no slow start): equal weights can be checked once per set. */
  private readonly staticWeights: boolean;
  private equalFor: readonly Backend[] | undefined;
  private equal = false;

  constructor(weightOf: WeightOf = (b) => b.weight, random: () => number = Math.random, staticWeights = true) {
    this.weightOf = weightOf;
    this.random = random;
    this.staticWeights = staticWeights;
  }

  pick(candidates: readonly Backend[], exclude?: readonly Backend[]): Backend | undefined {
    const allowed = exclude === undefined || exclude.length === 0 ? candidates : candidates.filter((b) => !exclude.includes(b));
    const n = allowed.length;
    if (n <= 1) return allowed[0];
    if (this.staticWeights && allowed === candidates && this.equalWeights(candidates)) {
      // The common case, without allocation: two different backends, uniformly.
      const i = Math.floor(this.random() * n);
      let j = Math.floor(this.random() * (n - 1));
      if (j >= i) j++;
      const [a, b] = [allowed[i], allowed[j]];
      return b.inflight < a.inflight ? b : a;
    }
    const weights = allowed.map(this.weightOf);
    const first = drawWeighted(allowed, weights, this.random, -1);
    const second = drawWeighted(allowed, weights, this.random, first);
    const a = allowed[first];
    const b = allowed[second];
    // Fewer in flight per unit of weight wins: compare a.inflight/wa with b.inflight/wb without dividing.
    return b.inflight * weights[first] < a.inflight * weights[second] ? b : a;
  }

  private equalWeights(candidates: readonly Backend[]): boolean {
    if (this.equalFor !== candidates) {
      const first = this.weightOf(candidates[0]);
      this.equal = candidates.every((b) => this.weightOf(b) === first);
      this.equalFor = candidates;
    }
    return this.equal;
  }
}
