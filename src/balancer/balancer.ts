// A selection policy picks one backend from the pool's current candidates.

import type { Backend } from '../pool/backend.ts';
import type { BalancerName } from '../config/config.ts';
import { RoundRobin } from './round-robin.ts';
import { WeightedRoundRobin } from './weighted-round-robin.ts';

export interface Balancer {
  readonly name: BalancerName;
  /** A backend not in `exclude` (backends already tried for this request), or undefined. */
  pick(candidates: readonly Backend[], exclude?: readonly Backend[]): Backend | undefined;
}

export function createBalancer(name: BalancerName): Balancer {
  return name === 'weighted-round-robin' ? new WeightedRoundRobin() : new RoundRobin();
}
