// Process-level memory tuning for a long-running proxy. Not part of any request's path.

import { getHeapSpaceStatistics, setFlagsFromString } from 'node:v8';

/** Young generation (both semi-spaces) allowed before V8 stops doubling it. */
const YOUNG_GENERATION_CAP = 32 * 1024 * 1024;
let youngGenerationWatch: NodeJS.Timeout | undefined;

/**
 * Under sustained load every scavenge finds the in-flight requests alive, and V8 reads that as a
 * reason to double the young generation, up to 128 MB on a large machine: ~100 MB of RSS that buys
 * a proxy little, since its per-request garbage dies young anyway. V8 reads the growth factor at
 * each growth decision, so turning growth off at the cap works at run time (--max-semi-space-size
 * is read only at start, and the command line is not ours).
 */
export function keepYoungGenerationSmall(): void {
  if (youngGenerationWatch !== undefined) return;
  let growing = true;
  youngGenerationWatch = setInterval(() => {
    const young = getHeapSpaceStatistics().find((space) => space.space_name === 'new_space');
    const grow = young === undefined || young.space_size < YOUNG_GENERATION_CAP;
    if (grow === growing) return;
    growing = grow;
    setFlagsFromString(`--semi-space-growth-factor=${grow ? 2 : 1}`);
  }, 100);
  youngGenerationWatch.unref();
}
