// A bounded load loop against sluice: fixed concurrency, stops at a request count, a time limit
// or when told to, and reports every non-2xx answer or transport error.

import { Agent, request } from 'undici';

export interface LoadResult {
  ok: number;
  failures: string[];
  byBackend: Map<string, number>;
}

export class LoadLoop {
  private stopped = false;
  private readonly agent = new Agent({ keepAliveTimeout: 10_000 });
  readonly result: LoadResult = { ok: 0, failures: [], byBackend: new Map() };
  private done: Promise<void> | undefined;

  private readonly url: string;
  private readonly concurrency: number;
  private readonly maxRequests: number;
  private readonly maxMs: number;

  constructor(url: string, concurrency = 8, maxRequests = 20_000, maxMs = 30_000) {
    this.url = url;
    this.concurrency = concurrency;
    this.maxRequests = maxRequests;
    this.maxMs = maxMs;
  }

  start(): this {
    const deadline = Date.now() + this.maxMs;
    let issued = 0;
    const worker = async (): Promise<void> => {
      while (!this.stopped && issued < this.maxRequests && Date.now() < deadline) {
        issued++;
        try {
          const res = await request(this.url, { dispatcher: this.agent });
          const body = await res.body.text();
          if (res.statusCode >= 200 && res.statusCode < 300) {
            this.result.ok++;
            const backend = String(res.headers['x-backend'] ?? body.trim());
            this.result.byBackend.set(backend, (this.result.byBackend.get(backend) ?? 0) + 1);
          } else {
            this.result.failures.push(`${res.statusCode} ${body.trim()}`);
          }
        } catch (err) {
          this.result.failures.push(String((err as Error).message));
        }
      }
    };
    this.done = Promise.all(Array.from({ length: this.concurrency }, worker)).then(() => {});
    return this;
  }

  /** Number of successful responses so far. */
  get ok(): number {
    return this.result.ok;
  }

  private stopping: Promise<LoadResult> | undefined;

  stop(): Promise<LoadResult> {
    this.stopped = true;
    this.stopping ??= (async () => {
      await this.done;
      await this.agent.close();
      return this.result;
    })();
    return this.stopping;
  }
}
