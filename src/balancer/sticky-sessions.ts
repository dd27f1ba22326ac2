// Sticky sessions on top of any policy: the first response carries a cookie naming its backend;
// later requests with that cookie go to the same backend while it is a candidate (healthy, not
// ejected or draining) and not already tried by this request. Otherwise the base policy picks
// and the response re-pins the client with a new cookie.
//
// The cookie holds an opaque token, not the address: the first 96 bits of SHA-256 over the
// backend's URL. It is the same in every sluice replica and across restarts, so a client keeps
// its backend whichever replica it reaches. It is not a secret: someone who can guess pod
// addresses can confirm a guess, and a client can forge a token for another backend, which only
// lets it choose among the healthy backends it could reach anyway.

import { createHash } from 'node:crypto';
import type { Backend } from '../pool/backend.ts';
import type { StickySessionConfig } from '../config/config.ts';
import type { Balancer, BalancerRequest, BalancerSettings } from './balancer.ts';
import { cookieValue } from './consistent-hash.ts';

export class StickySessions implements Balancer {
  readonly base: Balancer;
  private readonly cookie: string;
  private readonly attributes: string;
  private readonly isTrustedProxy: (address: string | undefined) => boolean;
  private readonly tokens = new WeakMap<Backend, string>();
  private tokensFor: readonly Backend[] | undefined;
  private byToken = new Map<string, Backend>();

  constructor(base: Balancer, config: StickySessionConfig, settings: BalancerSettings) {
    this.base = base;
    this.cookie = config.cookie;
    this.attributes = `; Path=/${config.ttlMs > 0 ? `; Max-Age=${Math.max(1, Math.round(config.ttlMs / 1000))}` : ''}; HttpOnly; SameSite=Lax`;
    this.isTrustedProxy = settings.isTrustedProxy;
  }

  get name(): Balancer['name'] {
    return this.base.name;
  }

  pick(candidates: readonly Backend[], exclude?: readonly Backend[], request?: BalancerRequest): Backend | undefined {
    const token = request === undefined ? undefined : cookieValue(request.headers.cookie, this.cookie);
    if (token !== undefined) {
      const pinned = this.lookup(candidates, token);
      if (pinned !== undefined && (exclude === undefined || !exclude.includes(pinned))) return pinned;
    }
    return this.base.pick(candidates, exclude, request);
  }

  /** A cookie for the response when the request did not already carry this backend's token. */
  setCookie(backend: Backend, request: BalancerRequest): string | undefined {
    const token = this.tokenOf(backend);
    if (cookieValue(request.headers.cookie, this.cookie) === token) return undefined;
    return `${this.cookie}=${token}${this.attributes}${this.secure(request) ? '; Secure' : ''}`;
  }

  tokenOf(backend: Backend): string {
    let token = this.tokens.get(backend);
    if (token === undefined) {
      token = createHash('sha256').update(backend.url).digest('base64url').slice(0, 16);
      this.tokens.set(backend, token);
    }
    return token;
  }

  /** The token → backend map, rebuilt only when the candidate set changes. */
  private lookup(candidates: readonly Backend[], token: string): Backend | undefined {
    if (this.tokensFor !== candidates) {
      this.byToken = new Map(candidates.map((b) => [this.tokenOf(b), b]));
      this.tokensFor = candidates;
    }
    return this.byToken.get(token);
  }

  /** The client used TLS, to sluice or (as a trusted proxy says) to the proxy in front of it. */
  private secure(request: BalancerRequest): boolean {
    if (request.socket.encrypted === true) return true;
    if (!this.isTrustedProxy(request.socket.remoteAddress)) return false;
    const proto = request.headers['x-forwarded-proto'];
    const first = (Array.isArray(proto) ? proto[0] : proto)?.split(',')[0].trim().toLowerCase();
    return first === 'https';
  }
}
