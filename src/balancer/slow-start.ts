// Slow start: a backend that just became healthy (new, or back from unhealthy or ejected) gets
// a share that ramps linearly over the window instead of its full share at once, so a cold
// process (a JVM above all) is not flooded. The pool's Backend.stateSince says when it happened.

import type { Backend } from '../pool/backend.ts';
import type { WeightOf } from './balancer.ts';

/** Envoy's min_weight_percent: a ramping backend gets at least this share of its weight, so the ramp starts. */
export const SLOW_START_FLOOR = 0.1;

export class SlowStart {
  readonly windowMs: number;
  private readonly now: () => number;

  constructor(windowMs: number, now: () => number = Date.now) {
    this.windowMs = windowMs;
    this.now = now;
  }

  /** 0.1 … 1: how far into its ramp the backend is. Candidates are healthy, so stateSince is when they became so. */
  factor(backend: Backend, now = this.now()): number {
    const elapsed = now - backend.stateSince;
    if (elapsed >= this.windowMs) return 1;
    return Math.max(SLOW_START_FLOOR, elapsed / this.windowMs);
  }

  /** `base` scaled by the ramp. */
  weightOf(base: WeightOf): WeightOf {
    return (backend) => base(backend) * this.factor(backend);
  }
}
