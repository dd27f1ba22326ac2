// `npm run bench -- --profile [SECONDS] [CONNECTIONS] [BACKENDS] [WORKLOAD]`: sluice under
// `node --cpu-prof`, pinned like in the benchmark, loaded for SECONDS (default 10), then the top
// self-time functions of the profile. WORKLOAD: `get` (wrk, small GET, CONNECTIONS connections;
// the default), `h2c-get` (h2load, h2c in, HTTP/1.1 backends) or `grpc-unary` (h2load, gRPC calls
// to grpc-go backends, h2c both sides); for those two CONNECTIONS is the streams in flight, over 4
// connections. The .cpuprofile stays in bench/results/ (git-ignored) for DevTools.

import { mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { printSelfTimes } from './lib/cpuprofile.ts';
import { buildGrpcPeers } from './lib/gopeers.ts';
import { h2load, wrk, type Measurement, type Workload } from './lib/load.ts';
import { has, killAll, pinning, stopProcess } from './lib/procs.ts';
import { ROOT, startBackends, startGrpcBackends, startGrpcSluice, startSluice, waitAllHealthy, type StartedSluice } from './lib/servers.ts';

export async function profile(argv: string[]): Promise<void> {
  const seconds = Number(argv[0] ?? 10);
  const connections = Number(argv[1] ?? 64);
  const backendCount = Number(argv[2] ?? 3);
  const kind = argv[3] ?? 'get';
  if (!['get', 'h2c-get', 'grpc-unary'].includes(kind)) throw new Error(`--profile workload: get, h2c-get or grpc-unary (got ${kind})`);
  if (kind === 'get' && !has('wrk')) throw new Error('profiling small GETs needs wrk');
  if (kind !== 'get' && !has('h2load')) throw new Error('profiling HTTP/2 needs h2load (apt-get install nghttp2-client)');
  const pin = pinning();
  const dir = mkdtempSync(join(tmpdir(), 'sluice-profile-'));
  const profDir = join(dir, 'prof');
  const nodeFlags = ['--cpu-prof', `--cpu-prof-dir=${profDir}`];
  try {
    let sluice: StartedSluice;
    let stopBackends: () => Promise<void>;
    let load: (s: number) => Promise<Measurement>;
    if (kind === 'grpc-unary') {
      const grpc = buildGrpcPeers((line) => process.stdout.write(`${line}\n`));
      if (!grpc) throw new Error('profiling gRPC needs the gRPC peers (go)');
      const backends = await startGrpcBackends(dir, backendCount, grpc.backend, pin.load);
      sluice = await startGrpcSluice(dir, 'sluice', backends.ports, pin.contender, { nodeFlags });
      stopBackends = backends.stop;
      const workload: Workload = { id: kind, title: 'gRPC unary', path: '/', connections: 4, streams: Math.max(1, Math.round(connections / 4)), grpc: true };
      load = (s) => h2load(dir, pin.load, sluice.url, workload, s);
    } else {
      const backends = await startBackends(dir, backendCount, { wrk: true, haproxy: false, nginx: has('nginx'), go: undefined }, pin.load);
      sluice = await startSluice(dir, 'sluice', backends.ports, pin.contender, { nodeFlags });
      await waitAllHealthy(sluice.adminUrl, backendCount);
      stopBackends = backends.stop;
      const workload: Workload = kind === 'get'
        ? { id: 'get', title: 'small GET', path: '/', connections }
        : { id: kind, title: 'h2c small GET', path: '/', connections: 4, streams: Math.max(1, Math.round(connections / 4)) };
      load = (s) => (kind === 'get' ? wrk(dir, pin.load, sluice.url, workload, s) : h2load(dir, pin.load, sluice.url, workload, s));
    }
    await load(2);
    const m = await load(seconds);
    process.stdout.write(`sluice under --cpu-prof, ${kind}: ${m.rps.toFixed(0)} req/s, p99 ${m.p99Ms.toFixed(2)} ms, bad ${m.bad}${m.error ? ` (${m.error})` : ''}\n`);
    await stopProcess(sluice.proc, 20_000);
    await stopBackends();
    const file = readdirSync(profDir).find((f) => f.endsWith('.cpuprofile'));
    if (!file) throw new Error('no .cpuprofile written');
    const out = join(ROOT, 'bench/results', kind === 'get' ? 'sluice.cpuprofile' : `sluice-${kind}.cpuprofile`);
    mkdirSync(join(ROOT, 'bench/results'), { recursive: true });
    renameSync(join(profDir, file), out);
    printSelfTimes(out, 40);
  } finally {
    killAll();
    rmSync(dir, { recursive: true, force: true });
  }
}
