// Consistent hashing on a ring with virtual nodes (Karger et al.; NGINX `hash … consistent`,
// Envoy ring hash), with bounded loads (Mirrokni, Thorup, Zadimoghaddam 2016; HAProxy's
// hash-balance-factor). The same key goes to the same backend while the candidate set stays the
// same; when one of N backends comes or goes only about 1/N of the keys move. With loadFactor c
// no backend takes a request while it already has c × its share of the requests in flight: the
// key walks on clockwise to the next backend with room. The ring is built once per candidate
// set (the pool makes a new `candidates` array on every state change, so the array's identity is
// the cache key), never per request. A request without the key goes round robin.

import type { Backend } from '../pool/backend.ts';
import type { HashOn } from '../config/config.ts';
import type { Balancer, BalancerRequest } from './balancer.ts';
import { RoundRobin } from './round-robin.ts';

/** Ring points per unit of weight: ~±6% spread of the ring between backends, 160 like NGINX/ketama would give ±8%. */
const POINTS_PER_WEIGHT = 256;
/** Upper bound on the ring's size, whatever the weights; each backend keeps at least MIN_POINTS. */
const MAX_POINTS = 131_072;
const MIN_POINTS = 16;

export interface ConsistentHashOptions {
  hashOn: HashOn;
  /** 0: unbounded; else ≥ 1. */
  loadFactor: number;
  isTrustedProxy: (address: string | undefined) => boolean;
}

interface Ring {
  /** Sorted ring positions. */
  points: Uint32Array;
  /** owner[i]: index into `backends` of the point points[i]. */
  owner: Uint16Array | Uint32Array;
  backends: readonly Backend[];
  totalWeight: number;
}

export class ConsistentHash implements Balancer {
  readonly name = 'consistent-hash';
  private readonly options: ConsistentHashOptions;
  private readonly fallback = new RoundRobin();
  private ringFor: readonly Backend[] | undefined;
  private ring: Ring | undefined;
  /** Rings built so far (for tests and /status: it must not grow per request). */
  builds = 0;

  constructor(options: ConsistentHashOptions) {
    this.options = options;
  }

  pick(candidates: readonly Backend[], exclude?: readonly Backend[], request?: BalancerRequest): Backend | undefined {
    const key = request === undefined ? undefined : hashKey(this.options.hashOn, request, this.options.isTrustedProxy);
    if (key === undefined || candidates.length === 0) return this.fallback.pick(candidates, exclude);
    return this.pickKey(candidates, key, exclude);
  }

  /** The backend for a key (exported for tests and the key-movement measurement). */
  pickKey(candidates: readonly Backend[], key: string, exclude?: readonly Backend[]): Backend | undefined {
    const ring = this.ringOf(candidates);
    const { points, owner, backends } = ring;
    if (points.length === 0) return undefined;
    let index = lowerBound(points, hash32(key));
    const bounded = this.options.loadFactor > 0;
    if (!bounded && (exclude === undefined || exclude.length === 0)) return backends[owner[index]];
    let total = 0;
    if (bounded) for (const b of backends) total += b.inflight;
    let firstAllowed: Backend | undefined;
    let seen = 0;
    const visited = new Uint8Array(backends.length);
    for (let step = 0; step < points.length && seen < backends.length; step++, index++) {
      if (index === points.length) index = 0;
      const i = owner[index];
      if (visited[i] === 1) continue;
      visited[i] = 1;
      seen++;
      const backend = backends[i];
      if (exclude !== undefined && exclude.includes(backend)) continue;
      firstAllowed ??= backend;
      if (!bounded) return backend;
      // Room for one more: (in flight + 1) ≤ ceil(c × (all in flight + 1) × weight share).
      const capacity = Math.ceil((this.options.loadFactor * (total + 1) * backend.weight) / ring.totalWeight);
      if (backend.inflight + 1 <= capacity) return backend;
    }
    // Every allowed backend is at its bound (only possible with exclusions): the key's own one.
    return firstAllowed;
  }

  private ringOf(candidates: readonly Backend[]): Ring {
    if (this.ring !== undefined && this.ringFor === candidates) return this.ring;
    this.ring = buildRing(candidates);
    this.ringFor = candidates;
    this.builds++;
    return this.ring;
  }
}

export function buildRing(backends: readonly Backend[]): Ring {
  let totalWeight = 0;
  for (const b of backends) totalWeight += b.weight;
  const perWeight = Math.max(1, Math.min(POINTS_PER_WEIGHT, Math.floor(MAX_POINTS / Math.max(1, totalWeight))));
  const entries: { point: number; owner: number }[] = [];
  backends.forEach((backend, i) => {
    const count = Math.max(MIN_POINTS, backend.weight * perWeight);
    // Points depend on the backend's URL only, so a backend keeps its arcs when others come and go.
    for (let p = 0; p < count; p++) entries.push({ point: hash32(`${backend.url}#${p}`), owner: i });
  });
  // Ties (rare) are broken by URL so every replica of sluice builds the same ring.
  entries.sort((a, b) => a.point - b.point || (backends[a.owner].url < backends[b.owner].url ? -1 : 1));
  const points = new Uint32Array(entries.length);
  const owner = backends.length <= 0xffff ? new Uint16Array(entries.length) : new Uint32Array(entries.length);
  entries.forEach((e, i) => {
    points[i] = e.point;
    owner[i] = e.owner;
  });
  return { points, owner, backends, totalWeight: Math.max(1, totalWeight) };
}

/** The first index whose point is ≥ h (points.length when none: wraps to 0). */
function lowerBound(points: Uint32Array, h: number): number {
  let lo = 0;
  let hi = points.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (points[mid] < h) lo = mid + 1;
    else hi = mid;
  }
  return lo === points.length ? 0 : lo;
}

/** FNV-1a over UTF-16 code units, then murmur3's finaliser for avalanche: stable across processes and versions. */
export function hash32(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** The request's key, or undefined when the request lacks it (it then goes round robin). */
export function hashKey(hashOn: HashOn, request: BalancerRequest, isTrustedProxy: (address: string | undefined) => boolean): string | undefined {
  switch (hashOn.source) {
    case 'header': {
      const value = request.headers[hashOn.name];
      if (value === undefined) return undefined;
      return Array.isArray(value) ? value.join(',') : value;
    }
    case 'cookie':
      return cookieValue(request.headers.cookie, hashOn.name);
    case 'query': {
      const url = request.url ?? '';
      const q = url.indexOf('?');
      if (q < 0) return undefined;
      return new URLSearchParams(url.slice(q + 1)).get(hashOn.name) ?? undefined;
    }
    case 'path': {
      const url = request.url ?? '/';
      const q = url.indexOf('?');
      return q < 0 ? url : url.slice(0, q);
    }
    case 'client-ip':
      return clientAddress(request, isTrustedProxy);
  }
}

/**
 * The client's address: the peer's, or, when the peer is a trusted proxy, the last address it
 * appended to X-Forwarded-For (the one it saw; earlier entries are the client's own claims).
 */
export function clientAddress(request: BalancerRequest, isTrustedProxy: (address: string | undefined) => boolean): string | undefined {
  const peer = request.socket.remoteAddress;
  if (!isTrustedProxy(peer)) return peer;
  const xff = request.headers['x-forwarded-for'];
  const list = Array.isArray(xff) ? xff.join(',') : xff;
  if (list === undefined || list.trim() === '') return peer;
  const last = list.slice(list.lastIndexOf(',') + 1).trim();
  return last === '' ? peer : last;
}

/** One cookie's value from a Cookie header ("a=1; b=2"), or undefined. */
export function cookieValue(header: string | undefined, name: string): string | undefined {
  if (header === undefined) return undefined;
  let start = 0;
  while (start < header.length) {
    let end = header.indexOf(';', start);
    if (end < 0) end = header.length;
    const eq = header.indexOf('=', start);
    if (eq > start && eq < end && header.slice(start, eq).trim() === name) {
      let value = header.slice(eq + 1, end).trim();
      if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) value = value.slice(1, -1);
      return value;
    }
    start = end + 1;
  }
  return undefined;
}
