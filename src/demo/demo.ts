// `sluice demo`: three demo backends on 127.0.0.1:8081-8083 (child processes, restarted when
// killed) and the balancer in front of them on 127.0.0.1:8080, admin on 127.0.0.1:9901. The demo
// is for this machine only; SLUICE_DEMO_HOST (e.g. "0.0.0.0" or "::") binds the balancer and
// admin elsewhere, for a demo inside a container.

import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { Logger } from 'pino';
import { DEFAULTS, type Config } from '../config/config.ts';
import { defaultConfig, parseListen } from '../config/load.ts';
import type { ListenAddress } from '../config/config.ts';
import { SluiceError } from '../errors.ts';
import { Sluice } from '../sluice.ts';

// demo-backend.ts in a checkout, demo-backend.js in the built package.
const BACKEND_SCRIPT = fileURLToPath(new URL(`./demo-backend${import.meta.url.endsWith('.ts') ? '.ts' : '.js'}`, import.meta.url));
const PORTS = [8081, 8082, 8083];
const RESTART_AFTER_MS = 10_000;

export function demoConfig(host = process.env.SLUICE_DEMO_HOST || '127.0.0.1'): Config {
  const bracketed = host.includes(':') ? `[${host}]` : host;
  return {
    ...defaultConfig(''),
    listen: parseListen(`${bracketed}:8080`) as ListenAddress,
    admin: { listen: parseListen(`${bracketed}:9901`) as ListenAddress, metrics: true },
    // Faster than the defaults so changes show up while you watch.
    healthCheck: { ...DEFAULTS.healthCheck, path: '/health', intervalMs: 2_000, timeoutMs: 1_000, healthyThreshold: 2, unhealthyThreshold: 2 },
    shutdown: { drainTimeoutMs: 5_000, delayMs: 0 },
    backends: PORTS.map((port) => ({ url: `http://127.0.0.1:${port}`, weight: 1 })),
  };
}

export class Demo {
  private readonly log: Logger;
  private readonly children = new Map<number, ChildProcess>();
  private stopping = false;
  sluice: Sluice | undefined;

  constructor(log: Logger) {
    this.log = log;
  }

  async start(): Promise<void> {
    try {
      await Promise.all(PORTS.map((port, i) => this.startBackend(`backend-${i + 1}`, port)));
    } catch (err) {
      this.stopBackends();
      throw err;
    }
    this.sluice = new Sluice(demoConfig(), this.log);
    try {
      await this.sluice.start();
    } catch (err) {
      this.stopBackends();
      throw err;
    }
    const pids = PORTS.map((port) => `${port} (pid ${this.children.get(port)?.pid})`).join(', ');
    process.stderr.write([
      '',
      'sluice demo is running:',
      '  balancer  http://localhost:8080/          try: for i in 1 2 3 4 5 6; do curl -s localhost:8080/; done',
      '  status    http://localhost:9901/status    also /healthz and /readyz',
      `  backends  ${pids}`,
      '  Kill a backend (kill <pid>) and watch /status: it turns unhealthy, the demo restarts it',
      `  after ${RESTART_AFTER_MS / 1000}s, and health checks bring it back. Ctrl-C stops everything.`,
      '',
    ].join('\n') + '\n');
  }

  async stop(reason: string): Promise<void> {
    this.stopping = true;
    await this.sluice?.shutdown(reason);
    this.stopBackends();
  }

  private stopBackends(): void {
    this.stopping = true;
    for (const child of this.children.values()) child.kill('SIGTERM');
  }

  private startBackend(name: string, port: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const child = fork(BACKEND_SCRIPT, [name, String(port)], { stdio: ['ignore', 'inherit', 'pipe', 'ipc'] });
      let stderr = '';
      child.stderr?.on('data', (chunk) => { stderr += chunk; });
      this.children.set(port, child);
      child.once('message', () => resolve());
      child.once('exit', (code, signal) => {
        if (this.stopping) return;
        if (stderr) {
          reject(new SluiceError('SLUICE_DEMO', stderr.trim(), 1));
          return;
        }
        this.log.warn({ backend: name, port, code, signal, restartInMs: RESTART_AFTER_MS }, 'demo backend exited; restarting it soon');
        setTimeout(() => {
          if (this.stopping) return;
          this.startBackend(name, port).then(
            () => this.log.info({ backend: name, port, backendPid: this.children.get(port)?.pid }, 'demo backend restarted'),
            (err) => this.log.error({ backend: name, error: String(err.message ?? err) }, 'demo backend could not restart'),
          );
        }, RESTART_AFTER_MS).unref();
      });
    });
  }
}
