// A selection policy picks one backend from the pool's current candidates for one request.
// Policies see the request (method, path, headers, client address) and are built from the
// config's options; sticky sessions and slow start wrap or feed any of them.

import type { IncomingHttpHeaders } from 'node:http';
import type { Backend } from '../pool/backend.ts';
import type { BalancerName, Config } from '../config/config.ts';
import { ConsistentHash } from './consistent-hash.ts';
import { LeastRequest } from './least-request.ts';
import { RandomPick } from './random.ts';
import { RoundRobin } from './round-robin.ts';
import { SlowStart } from './slow-start.ts';
import { StickySessions } from './sticky-sessions.ts';
import { WeightedRoundRobin } from './weighted-round-robin.ts';

/**
 * What a policy sees of the request. Node's IncomingMessage has this shape, so the proxy hands
 * its request over as it is: nothing is copied or parsed unless a policy asks for it.
 */
export interface BalancerRequest {
  readonly method?: string;
  /** The request target as received: path and query ("/a/b?x=1"). */
  readonly url?: string;
  readonly headers: IncomingHttpHeaders;
  /** `encrypted`: the client connection is TLS. */
  readonly socket: { readonly remoteAddress?: string; readonly encrypted?: boolean };
}

export interface Balancer {
  readonly name: BalancerName;
  /**
   * A backend not in `exclude` (backends already tried for this request), or undefined.
   * `request` is absent only in tests and probes; policies that need it fall back to their base order.
   */
  pick(candidates: readonly Backend[], exclude?: readonly Backend[], request?: BalancerRequest): Backend | undefined;
  /** A Set-Cookie value the response to `request` must carry because it went to `backend` (sticky sessions). */
  setCookie?(backend: Backend, request: BalancerRequest): string | undefined;
}

/** A backend's share-deciding weight right now (its configured weight, ramped by slow start). */
export type WeightOf = (backend: Backend) => number;

export const configuredWeight: WeightOf = (backend) => backend.weight;

export interface BalancerSettings {
  /** Whether a peer address is a trusted proxy (its X-Forwarded-For / -Proto count). */
  isTrustedProxy: (address: string | undefined) => boolean;
}

export function createBalancer(config: Pick<Config, 'balancer' | 'balancerOptions' | 'stickySession' | 'slowStartMs'>, settings: BalancerSettings): Balancer {
  const slowStart = config.slowStartMs > 0 ? new SlowStart(config.slowStartMs) : undefined;
  let base: Balancer;
  switch (config.balancer) {
    case 'weighted-round-robin':
      base = new WeightedRoundRobin(slowStart ? slowStart.weightOf(configuredWeight) : configuredWeight);
      break;
    case 'least-request':
      base = slowStart ? new LeastRequest(slowStart.weightOf(configuredWeight), Math.random, false) : new LeastRequest();
      break;
    case 'random':
      base = new RandomPick(slowStart ? slowStart.weightOf(configuredWeight) : configuredWeight);
      break;
    case 'consistent-hash':
      base = new ConsistentHash({
        hashOn: config.balancerOptions.hashOn ?? { source: 'path', text: 'path' },
        loadFactor: config.balancerOptions.loadFactor,
        isTrustedProxy: settings.isTrustedProxy,
      });
      break;
    default:
      // Plain rotation ignores weights; under slow start it becomes smooth weighted order over equal weights, ramped.
      base = slowStart ? new WeightedRoundRobin(slowStart.weightOf(() => 1), 'round-robin') : new RoundRobin();
  }
  return config.stickySession ? new StickySessions(base, config.stickySession, settings) : base;
}
