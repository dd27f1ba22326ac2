// Test backends with addresses the API server accepts in endpoints (it rejects loopback): a
// network namespace joined to the host by a veth pair, host side 198.18.N.1/24, backends at
// 198.18.N.2 and up, all served by one real HTTP server process (netns-backend.ts) inside it.
// With { ipv6: true } each backend also gets fd00:5c:N::2 and up (host side fd00:5c:N::1/64):
// unique local addresses, on this veth pair only, so nothing is routed off the machine.

import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { eventually } from '../../helpers/eventually.ts';
import { run } from './cluster.ts';

const SERVER = fileURLToPath(new URL('./netns-backend.ts', import.meta.url));
/** Prefix of every namespace this suite creates; test.sh removes leftovers by it. */
export const NETNS_PREFIX = `sluice-test-${process.env.SLUICE_TEST_RUN ?? process.pid}`;

const live = new Set<BackendNet>();

async function ip(args: string[]): Promise<string> {
  const r = await run('ip', args);
  if (r.code !== 0) throw new Error(`ip ${args.join(' ')} failed: ${r.stderr.trim()}`);
  return r.stdout;
}

/** A /24 in 198.18.0.0/16 (the benchmarking range) that no route on this host uses yet (nor its IPv6 twin). */
async function freeOctet(): Promise<number> {
  const routes = await ip(['-4', 'route', 'show']);
  const routes6 = await ip(['-6', 'route', 'show']);
  for (let tries = 0; tries < 100; tries++) {
    const n = 1 + Math.floor(Math.random() * 254);
    if (!routes.includes(`198.18.${n}.`) && !routes6.includes(`${v6Prefix(n)}:`)) return n;
  }
  throw new Error('no free 198.18.N.0/24 subnet for test backends');
}

function v6Prefix(octet: number): string {
  return `fd00:5c:${octet.toString(16)}`;
}

export class BackendNet {
  readonly ns: string;
  readonly addresses: string[];
  /** IPv6 addresses of the same backends (same index, same server), when created with ipv6. */
  readonly addresses6: string[];
  private readonly octet: number;
  private server: ChildProcess | undefined;
  private serverOutput = '';

  private constructor(ns: string, octet: number, count: number, ipv6: boolean) {
    this.ns = ns;
    this.octet = octet;
    this.addresses = Array.from({ length: count }, (_, i) => `198.18.${octet}.${i + 2}`);
    this.addresses6 = ipv6 ? Array.from({ length: count }, (_, i) => `${v6Prefix(octet)}::${(i + 2).toString(16)}`) : [];
  }

  /** Creates the namespace and veth pair and starts the HTTP servers on `count` addresses (per family). */
  static async create(count: number, options: { ipv6?: boolean } = {}): Promise<BackendNet> {
    const octet = await freeOctet();
    const net = new BackendNet(`${NETNS_PREFIX}-${octet}`, octet, count, options.ipv6 ?? false);
    live.add(net);
    try {
      await net.setUp();
    } catch (err) {
      await net.stop();
      throw err;
    }
    return net;
  }

  static async stopAll(): Promise<void> {
    await Promise.all([...live].map((n) => n.stop()));
  }

  private get hostIf(): string { return `slc${this.octet}h`; }
  private get nsIf(): string { return `slc${this.octet}n`; }

  private async setUp(): Promise<void> {
    await ip(['netns', 'add', this.ns]);
    await ip(['link', 'add', this.hostIf, 'type', 'veth', 'peer', 'name', this.nsIf]);
    await ip(['link', 'set', this.nsIf, 'netns', this.ns]);
    await ip(['addr', 'add', `198.18.${this.octet}.1/24`, 'dev', this.hostIf]);
    // nodad: usable at once, not "tentative" for the second duplicate address detection takes.
    if (this.addresses6.length) await ip(['-6', 'addr', 'add', `${v6Prefix(this.octet)}::1/64`, 'dev', this.hostIf, 'nodad']);
    await ip(['link', 'set', this.hostIf, 'up']);
    const inNs = (args: string[]): Promise<string> => ip(['netns', 'exec', this.ns, 'ip', ...args]);
    for (const address of this.addresses) await inNs(['addr', 'add', `${address}/24`, 'dev', this.nsIf]);
    for (const address of this.addresses6) await inNs(['-6', 'addr', 'add', `${address}/64`, 'dev', this.nsIf, 'nodad']);
    await inNs(['link', 'set', this.nsIf, 'up']);
    await inNs(['link', 'set', 'lo', 'up']);
    // `ip netns exec` execs the command after entering the namespace: the pid is node's own.
    const server = spawn('ip', ['netns', 'exec', this.ns, process.execPath, SERVER, ...this.addresses, ...this.addresses6], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.server = server;
    server.stdout!.setEncoding('utf8').on('data', (chunk: string) => { this.serverOutput += chunk; });
    server.stderr!.setEncoding('utf8').on('data', (chunk: string) => { this.serverOutput += chunk; });
    await eventually(() => {
      if (server.exitCode !== null) throw new Error(`backend server exited: ${this.serverOutput}`);
      return this.serverOutput.includes('ready');
    }, `backend servers in ${this.ns}`, 15_000);
  }

  /** Stops the servers and deletes the namespace (the veth pair goes with it). Idempotent. */
  async stop(): Promise<void> {
    if (!live.delete(this)) return;
    const server = this.server;
    if (server && server.exitCode === null && server.signalCode === null) {
      const exited = new Promise((resolve) => server.once('exit', resolve));
      server.kill('SIGTERM');
      const timer = setTimeout(() => server.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    }
    await run('ip', ['netns', 'del', this.ns]);
    await run('ip', ['link', 'del', this.hostIf]); // usually already gone with the namespace
  }
}
