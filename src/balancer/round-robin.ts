// Strict rotation over the candidates, in pool order.

import type { Backend } from '../pool/backend.ts';
import type { Balancer } from './balancer.ts';

export class RoundRobin implements Balancer {
  readonly name = 'round-robin';
  private next = 0;

  pick(candidates: readonly Backend[], exclude?: readonly Backend[]): Backend | undefined {
    const n = candidates.length;
    for (let i = 0; i < n; i++) {
      const index = this.next % n;
      // Wrap well before 2^53 so the modulo stays exact forever.
      this.next = this.next >= 0x3fffffff ? 0 : this.next + 1;
      const backend = candidates[index];
      if (exclude === undefined || !exclude.includes(backend)) return backend;
    }
    return undefined;
  }
}
