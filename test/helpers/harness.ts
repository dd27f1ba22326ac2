// One place for the e2e set-up every suite repeats: real backends, the real sluice in front of
// them, an optional load loop, and cleanup that runs also when a test fails.

import { LoadLoop } from './load.ts';
import { SluiceProcess, testConfig } from './sluice-process.ts';
import { startBackends, type TestBackend } from './test-backend.ts';

export interface StartOptions {
  /** Extra top-level YAML for testConfig. */
  extra?: string;
  /** The whole config, given the backends' URLs (overrides `extra`). */
  config?: (urls: string[]) => string;
  /** How many backends must be healthy before the test starts (default: all). */
  healthy?: number;
}

export class Harness {
  backends: TestBackend[] = [];
  private current: SluiceProcess | undefined;
  private loads: LoadLoop[] = [];

  get sluice(): SluiceProcess {
    if (!this.current) throw new Error('sluice was not started in this test');
    return this.current;
  }

  async start(backendCount: number, options: StartOptions = {}): Promise<SluiceProcess> {
    this.backends = await startBackends(backendCount);
    const urls = this.backends.map((b) => b.url);
    this.current = new SluiceProcess(options.config ? options.config(urls) : testConfig(urls, options.extra));
    return this.current.start(options.healthy ?? backendCount);
  }

  /** A bounded load loop against sluice's proxy, stopped at cleanup if the test did not. */
  load(path = '/', concurrency = 8, maxRequests = 30_000, maxMs = 25_000): LoadLoop {
    const loop = new LoadLoop(this.sluice.proxyUrl + path, concurrency, maxRequests, maxMs).start();
    this.loads.push(loop);
    return loop;
  }

  async cleanup(): Promise<void> {
    await Promise.all(this.loads.splice(0).map((l) => l.stop()));
    await this.current?.stop();
    await Promise.all(this.backends.map((b) => b.kill()));
    this.current = undefined;
    this.backends = [];
  }
}

/** A harness cleaned up after each test of the calling suite. */
export function harnessPerTest(): Harness {
  const harness = new Harness();
  afterEach(() => harness.cleanup());
  return harness;
}

/** A harness shared by the calling suite: started once before its tests, cleaned up after them. */
export function harnessPerSuite(backendCount: number, options: StartOptions = {}): Harness {
  const harness = new Harness();
  before(() => harness.start(backendCount, options));
  after(() => harness.cleanup());
  return harness;
}
