// The Go peers, built at every run into bench/.build (git-ignored; Go's build cache makes it
// quick): the stdlib-only ones from single files, and bench/peers/grpc as a module of its own.

import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { has } from './procs.ts';
import { ROOT, type Tools } from './servers.ts';

export function goBinary(): string | undefined {
  if (has('go')) return 'go';
  try {
    readFileSync('/usr/local/go/bin/go');
    return '/usr/local/go/bin/go';
  } catch {
    return undefined;
  }
}

/** Builds bench/peers/*\/main.go into bench/.build (git-ignored); undefined without Go. */
export function buildGoPeers(log: (line: string) => void): Tools['go'] {
  const go = goBinary();
  if (go === undefined) {
    log('go: not installed; the Go ReverseProxy contender, the fixed-rate latency workload and the gRPC workloads are missing');
    return undefined;
  }
  const out = join(ROOT, 'bench/.build');
  mkdirSync(out, { recursive: true });
  const built: Record<string, string> = {};
  for (const peer of ['backend', 'goproxy', 'loadgen']) {
    const target = join(out, peer);
    const r = spawnSync(go, ['build', '-o', target, `./bench/peers/${peer}/main.go`], { cwd: ROOT, encoding: 'utf8', timeout: 300_000, env: { ...process.env, CGO_ENABLED: '0', GOFLAGS: '-mod=mod', GOTOOLCHAIN: 'local' } });
    if (r.status !== 0) {
      log(`go build ${peer} failed: ${r.stderr}`);
      return undefined;
    }
    built[peer] = target;
  }
  log(`go peers built into ${relative(ROOT, out)}/ (${(spawnSync(go, ['version'], { encoding: 'utf8' }).stdout ?? '').trim()})`);
  return { backend: built.backend, goproxy: built.goproxy, loadgen: built.loadgen };
}

/**
 * bench/peers/grpc is a module of its own (grpc-go; go.sum committed): the gRPC backends and the
 * grpc-go load generator. Its modules come from the module cache or GOPROXY on the first build.
 */
export function buildGrpcPeers(log: (line: string) => void): Tools['grpc'] {
  const go = goBinary();
  if (go === undefined) return undefined;
  const out = join(ROOT, 'bench/.build');
  mkdirSync(out, { recursive: true });
  const built: Record<string, string> = {};
  for (const peer of ['backend', 'load']) {
    const target = join(out, `grpc-${peer}`);
    const r = spawnSync(go, ['build', '-o', target, `./${peer}`], { cwd: join(ROOT, 'bench/peers/grpc'), encoding: 'utf8', timeout: 600_000, env: { ...process.env, CGO_ENABLED: '0', GOFLAGS: '-mod=readonly -buildvcs=false', GOTOOLCHAIN: 'local' } });
    if (r.status !== 0) {
      log(`go build bench/peers/grpc/${peer} failed (the gRPC workloads are reported missing): ${r.stderr.trim().split('\n').slice(-3).join(' / ')}`);
      return undefined;
    }
    built[peer] = target;
  }
  log(`gRPC peers built into ${relative(ROOT, out)}/ (grpc-go ${grpcGoVersion()})`);
  return { backend: built.backend, load: built.load };
}

export function grpcGoVersion(): string {
  try {
    return /google\.golang\.org\/grpc (v\S+)/.exec(readFileSync(join(ROOT, 'bench/peers/grpc/go.mod'), 'utf8'))?.[1] ?? '?';
  } catch {
    return '?';
  }
}
