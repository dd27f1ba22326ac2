// The real sluice, started the way users start it: `node bin/sluice.js --config FILE`.

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { eventually } from './eventually.ts';

export const SLUICE_BIN = fileURLToPath(new URL('../../bin/sluice.js', import.meta.url));

export interface StatusBackend {
  url: string;
  healthy: boolean;
  requests: number;
  state: string;
  inflight: number;
  failures: number;
  weight: number;
  source: string;
  lastProbe: { ok: boolean; status: number | null; error: string | null } | null;
  [key: string]: unknown;
}

export interface StatusDocument {
  ready: boolean;
  shuttingDown: boolean;
  config: { file: string | null; loadedAt: string; lastReloadError: { message: string } | null };
  topology?: { zone: string | null; preferSameZone: boolean; mode: string };
  backends: StatusBackend[];
  [key: string]: unknown;
}

export interface LogLine {
  level: string;
  msg: string;
  [key: string]: unknown;
}

/**
 * Loopback listeners on ephemeral ports and fast health checks: the top of every test config.
 * 300 ms, not less: a healthy backend on a loaded 2-core machine (a restarting API server, a
 * 200 MB transfer) must not miss two probes in a row and take the test's pool down.
 */
export function testPreamble(healthyThreshold = 2): string[] {
  return [
    'listen: "127.0.0.1:0"',
    'admin:',
    '  listen: "127.0.0.1:0"',
    'healthCheck:',
    '  interval: 300ms',
    '  timeout: 300ms',
    `  healthyThreshold: ${healthyThreshold}`,
    '  unhealthyThreshold: 2',
  ];
}

/** A config for tests: the preamble, `extra` top-level YAML, then the static backends. */
export function testConfig(backends: string[], extra = ''): string {
  return [
    ...testPreamble(),
    extra,
    'backends:',
    ...backends.map((url) => `  - url: ${url}`),
    '',
  ].join('\n');
}

export class SluiceProcess {
  readonly dir: string;
  readonly configPath: string;
  readonly logs: LogLine[] = [];
  stderr = '';
  proxy = '';
  admin = '';
  exitCode: number | null = null;
  private child: ChildProcess | undefined;
  private exited: Promise<number> | undefined;
  private partial = '';

  constructor(configText: string) {
    this.dir = mkdtempSync(join(tmpdir(), 'sluice-test-'));
    this.configPath = join(this.dir, 'config.yaml');
    writeFileSync(this.configPath, configText);
  }

  get pid(): number {
    return this.child?.pid ?? 0;
  }

  get proxyUrl(): string {
    return `http://${this.proxy}`;
  }

  get adminUrl(): string {
    return `http://${this.admin}`;
  }

  /** Starts the process without waiting for it to listen (for startup-error tests). */
  spawn(args: string[] = ['--config', this.configPath]): this {
    const child = spawn(process.execPath, [SLUICE_BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'], cwd: this.dir });
    this.child = child;
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => this.onStdout(chunk));
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => { this.stderr += chunk; });
    this.exited = new Promise((resolve) => child.once('exit', (code, signal) => {
      this.exitCode = code ?? (signal ? 128 : -1);
      resolve(this.exitCode);
    }));
    return this;
  }

  /** Starts and waits until both listeners are up and at least `healthy` backends are healthy. */
  async start(healthy = 1, args?: string[]): Promise<this> {
    this.spawn(args);
    await eventually(() => {
      if (this.exitCode !== null) throw new Error(`sluice exited with ${this.exitCode}: ${this.stderr}`);
      return this.proxy !== '' && this.admin !== '';
    }, 'sluice to listen');
    if (healthy > 0) await this.waitForHealthy(healthy);
    return this;
  }

  async waitForHealthy(count: number, timeoutMs = 10_000): Promise<StatusDocument> {
    return eventually(async () => {
      const status = await this.status();
      return status.backends.filter((b) => b.healthy).length === count ? status : undefined;
    }, `${count} healthy backend(s)`, timeoutMs);
  }

  async status(): Promise<StatusDocument> {
    const res = await fetch(`${this.adminUrl}/status`);
    return (await res.json()) as StatusDocument;
  }

  async backend(url: string): Promise<StatusBackend | undefined> {
    return (await this.status()).backends.find((b) => b.url === url);
  }

  rewriteConfig(configText: string): void {
    writeFileSync(this.configPath, configText);
  }

  signal(signal: NodeJS.Signals): void {
    this.child?.kill(signal);
  }

  waitForExit(): Promise<number> {
    return this.exited ?? Promise.resolve(this.exitCode ?? -1);
  }

  waitForLog(match: (line: LogLine) => boolean, what: string, timeoutMs = 10_000): Promise<LogLine> {
    return eventually(() => this.logs.find(match), what, timeoutMs);
  }

  /** Stops the process (SIGTERM, then SIGKILL after a grace period) and removes its files. */
  async stop(): Promise<number> {
    if (this.child && this.exitCode === null) {
      this.child.kill('SIGTERM');
      const timer = setTimeout(() => this.child?.kill('SIGKILL'), 10_000);
      await this.waitForExit();
      clearTimeout(timer);
    }
    rmSync(this.dir, { recursive: true, force: true });
    return this.exitCode ?? -1;
  }

  private onStdout(chunk: string): void {
    const lines = (this.partial + chunk).split('\n');
    this.partial = lines.pop() ?? '';
    for (const text of lines) {
      if (!text.trim()) continue;
      let line: LogLine;
      try {
        line = JSON.parse(text) as LogLine;
      } catch {
        continue;
      }
      this.logs.push(line);
      if (line.msg === 'proxy listening') this.proxy = String(line.address);
      if (line.msg === 'admin listening') this.admin = String(line.address);
    }
  }
}
