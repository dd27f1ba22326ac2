// A list-watch loop in the manner of client-go's reflector, kept small and hard to kill:
//   list → watch from the list's resourceVersion (bookmarks on, server-side timeout jittered)
//   → on a normal end, watch again from the last resourceVersion seen
//   → on 410 Gone (HTTP status or ERROR event), list again
//   → on any other error, back off exponentially with jitter (capped) and watch again from the
//     last resourceVersion (a broken connection loses nothing; a bad event lists again)
//   → a watchdog lists again when nothing at all (no event, no bookmark, no end of the watch)
//     arrived for watchdogMs. Bookmarks cannot be the heartbeat: the API server sends one only
//     once its cache has moved past the watch's resourceVersion, so on a quiet resource none
//     come at all. The end of the watch can: watches are asked to last at most half the bound
//     (timeoutSeconds), the API server ends them on time, so a healthy server is never silent
//     for more than half of it. Silence beyond it means a frozen server or a dead connection.
// The JavaScript client's informers can stop silently when a connection dies; this loop only
// ends when stop() is called.

import type { Logger } from 'pino';
import { isGone } from './api-errors.ts';
import type { KubeClient } from './kube-client.ts';
import type { KubeList, KubeObject, KubeStatus, WatchEvent } from './kube-types.ts';

export interface ReflectorTarget {
  /** Collection path, e.g. /apis/discovery.k8s.io/v1/namespaces/default/endpointslices. */
  path: string;
  /** labelSelector / fieldSelector. */
  query: Record<string, string>;
}

export interface ReflectorEvents<T> {
  /** The cache changed: after every list and every ADDED/MODIFIED/DELETED event. */
  changed: (objects: ReadonlyMap<string, T>) => void;
  /** A list or watch failed; the reflector retries on its own. */
  failed: (err: unknown, verb: 'list' | 'watch') => void;
  /** A watch is open: the API server answered. */
  watching?: () => void;
  /** The watch was silent for watchdogMs: the reflector lists again. */
  stalled?: (silentMs: number) => void;
}

export interface ReflectorOptions {
  watchdogMs: number;
  /** Upper bound of the server-side watch timeout; the real one is jittered below it. */
  maxWatchSeconds?: number;
  backoffBaseMs?: number;
  backoffCapMs?: number;
}

export const REFLECTOR_DEFAULTS = { maxWatchSeconds: 300, backoffBaseMs: 500, backoffCapMs: 30_000 } as const;

type WatchEnd = 'ended' | 'gone' | 'silent';

/** The watch stream itself said something wrong (not a transport failure): the cache is in doubt. */
export class WatchStreamError extends Error {
  override name = 'WatchStreamError';
}

export class Reflector<T extends KubeObject> {
  /** Completed lists after the first. */
  relists = 0;
  /** Watches opened after the first. */
  watchRestarts = 0;
  lastEventAt: number | undefined;
  /** Last time the API server showed it is live for us: a list, a watch opened, a line, a watch ended. */
  lastContactAt: number | undefined;
  resourceVersion = '';
  private readonly objects = new Map<string, T>();
  private readonly client: KubeClient;
  private readonly target: ReflectorTarget;
  private readonly events: ReflectorEvents<T>;
  private readonly log: Logger;
  private readonly options: Required<ReflectorOptions>;
  private stopped = false;
  private listed = false;
  private watchesOpened = 0;
  private controller: AbortController | undefined;
  private wake: (() => void) | undefined;
  private loop: Promise<void> | undefined;

  constructor(client: KubeClient, target: ReflectorTarget, events: ReflectorEvents<T>, log: Logger, options: ReflectorOptions) {
    this.client = client;
    this.target = target;
    this.events = events;
    this.log = log;
    this.options = { ...REFLECTOR_DEFAULTS, ...options };
  }

  start(): void {
    this.loop ??= this.run();
  }

  /** Ends the loop: aborts the open request, cancels a pending retry, resolves when all is closed. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.controller?.abort();
    this.wake?.();
    await this.loop;
  }

  private async run(): Promise<void> {
    let needList = true;
    let failures = 0;
    /** 410s in a row with nothing received in between: a server in that state must not make us spin. */
    let goneStreak = 0;
    while (!this.stopped) {
      let verb: 'list' | 'watch' = needList ? 'list' : 'watch';
      try {
        if (needList) {
          await this.list();
          needList = false;
          failures = 0;
          verb = 'watch';
          // The cache's consumer may have stopped us while it handled the list.
          if (this.stopped) break;
        }
        const startedAt = Date.now();
        const { end, received } = await this.watchOnce();
        if (received) goneStreak = 0;
        if (end === 'gone') {
          this.log.info({ resourceVersion: this.resourceVersion }, 'watch expired (410 Gone); listing again');
          needList = true;
          if (++goneStreak > 1) await this.pause(goneStreak - 1);
        } else if (end === 'silent') {
          this.log.warn({ silentMs: this.options.watchdogMs }, 'watch silent for too long; listing again');
          this.events.stalled?.(this.options.watchdogMs);
          needList = true;
        } else if (Date.now() - startedAt < 1000 && !received) {
          // A server that ends watches at once must not make us spin.
          await this.pause(++failures);
        } else {
          failures = 0;
        }
      } catch (err) {
        if (this.stopped) break;
        if (isGone(err)) {
          this.log.info({ resourceVersion: this.resourceVersion }, 'watch expired (410 Gone); listing again');
          needList = true;
          if (++goneStreak > 1) await this.pause(goneStreak - 1);
          continue;
        }
        // A bad event (not a failed connection) leaves the cache in doubt: list again.
        if (err instanceof WatchStreamError) needList = true;
        this.events.failed(err, verb);
        await this.pause(++failures);
      }
    }
  }

  private async list(): Promise<void> {
    const controller = new AbortController();
    this.controller = controller;
    if (this.stopped) return;
    const list = await this.client.getJson<KubeList<T>>(this.target.path, this.target.query, controller.signal);
    if (this.stopped) return;
    this.objects.clear();
    for (const item of list.items ?? []) {
      const name = item.metadata?.name;
      if (name) this.objects.set(name, item);
    }
    this.resourceVersion = list.metadata?.resourceVersion ?? '';
    this.lastContactAt = Date.now();
    if (this.listed) this.relists++;
    this.listed = true;
    this.log.debug({ objects: this.objects.size, resourceVersion: this.resourceVersion }, 'listed');
    this.events.changed(this.objects);
  }

  /** One watch, until it ends. `received`: at least one event (bookmarks too) arrived. */
  private async watchOnce(): Promise<{ end: WatchEnd; received: boolean }> {
    const controller = new AbortController();
    this.controller = controller;
    let received = false;
    if (this.stopped) return { end: 'ended', received };
    let silent = false;
    let watchdog: NodeJS.Timeout | undefined;
    const feed = (): void => {
      clearTimeout(watchdog);
      watchdog = setTimeout(() => {
        silent = true;
        controller.abort();
      }, this.options.watchdogMs);
    };
    feed();
    try {
      const lines = await this.client.watch(this.target.path, {
        ...this.target.query,
        resourceVersion: this.resourceVersion,
        allowWatchBookmarks: 'true',
        timeoutSeconds: String(this.watchSeconds()),
      }, controller.signal);
      feed();
      this.lastContactAt = Date.now();
      if (this.watchesOpened++ > 0) this.watchRestarts++;
      this.events.watching?.();
      for await (const line of lines) {
        feed();
        if (this.apply(line) === 'gone') return { end: 'gone', received };
        received = true;
      }
      if (!controller.signal.aborted) this.lastContactAt = Date.now();
      return { end: 'ended', received };
    } catch (err) {
      if (silent && !this.stopped) return { end: 'silent', received };
      throw err;
    } finally {
      clearTimeout(watchdog);
      controller.abort();
    }
  }

  private apply(line: string): 'gone' | undefined {
    let event: WatchEvent<T>;
    try {
      event = JSON.parse(line) as WatchEvent<T>;
    } catch {
      throw new WatchStreamError(`the watch sent something that is not JSON: ${line.slice(0, 80)}`);
    }
    this.lastEventAt = Date.now();
    this.lastContactAt = this.lastEventAt;
    const object = event.object as T;
    const rv = object?.metadata?.resourceVersion;
    switch (event.type) {
      case 'ADDED':
      case 'MODIFIED':
      case 'DELETED': {
        const name = object.metadata?.name;
        if (!name) return undefined;
        if (event.type === 'DELETED') this.objects.delete(name);
        else this.objects.set(name, object);
        if (rv) this.resourceVersion = rv;
        this.events.changed(this.objects);
        return undefined;
      }
      case 'BOOKMARK':
        if (rv) this.resourceVersion = rv;
        return undefined;
      case 'ERROR': {
        const status = event.object as KubeStatus;
        if (status.code === 410) return 'gone';
        throw new WatchStreamError(`the watch sent an error: ${[status.code, status.reason, status.message].filter(Boolean).join(' ')}`);
      }
      default:
        return undefined;
    }
  }

  /** At most half the watchdog, so a healthy quiet watch ends (or sends its bookmark) with room to spare. */
  private watchSeconds(): number {
    const max = Math.min(this.options.maxWatchSeconds, this.options.watchdogMs / 2 / 1000);
    return Math.max(1, Math.floor(max * (0.8 + Math.random() * 0.2)));
  }

  private pause(failures: number): Promise<void> {
    const { backoffBaseMs, backoffCapMs } = this.options;
    const ceiling = Math.min(backoffCapMs, backoffBaseMs * 2 ** Math.min(failures - 1, 20));
    const ms = ceiling / 2 + Math.random() * (ceiling / 2);
    return new Promise((resolve) => {
      if (this.stopped) return resolve();
      const done = (): void => {
        clearTimeout(timer);
        this.wake = undefined;
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.wake = done;
    });
  }
}
