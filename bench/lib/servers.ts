// The benchmark's servers: the backends every contender shares, and each contender started
// the same way, pinned to the same core, with one worker/thread/process.

import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, freePorts, pinned, startProcess, stopProcess, waitForOk, type Started } from './procs.ts';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const SMALL_BODY = 'hello from a sluice benchmark backend\n';

export interface Tools {
  wrk: boolean;
  haproxy: boolean;
  nginx: boolean;
  /** h2load (Debian nghttp2-client): the HTTP/2 and gRPC closed-loop load. */
  h2load?: boolean;
  /** Built Go peers (bench/.build), or undefined when Go is absent or the build failed. */
  go: { backend: string; goproxy: string; loadgen: string } | undefined;
  /** The gRPC peers (bench/peers/grpc, a module of its own), or undefined when they did not build. */
  grpc?: { backend: string; load: string } | undefined;
}

export interface Backends {
  kind: 'nginx' | 'go';
  /** Every listening port; the first three are the standard pool. */
  ports: number[];
  /** A port of the same process that speaks HTTP/2 with prior knowledge (h2c): `direct` for h2c. */
  h2cPort: number;
  stop(): Promise<void>;
}

/** One grpc-go process: a BenchmarkService + Health server per port, and per-port call counts. */
export interface GrpcBackends {
  ports: number[];
  pid: number | undefined;
  /** Calls answered so far, per port (GET /counts on the stats port). */
  counts(): Promise<Record<string, number>>;
  stop(): Promise<void>;
}

/** One NGINX worker (or one Go process with GOMAXPROCS=1) serving all ports on the load core. */
export async function startBackends(dir: string, count: number, tools: Tools, core: string | undefined): Promise<Backends> {
  const ports: number[] = [];
  while (ports.length < count) {
    const port = await freePort();
    if (!ports.includes(port)) ports.push(port);
  }
  let proc: Started;
  let kind: Backends['kind'];
  let h2cPort = ports[0];
  if (tools.nginx) {
    kind = 'nginx';
    // NGINX speaks h2c only on a port of its own (HTTP/1.1 and h2c do not share a listen).
    do h2cPort = await freePort(); while (ports.includes(h2cPort));
    const www = join(dir, 'www');
    mkdirSync(www, { recursive: true });
    writeFileSync(join(www, 'big'), Buffer.alloc(1 << 20, 'x'));
    const conf = join(dir, 'backend-nginx.conf');
    writeFileSync(conf, `${nginxCommon(dir, 'backend')}
http {
  ${nginxHttpCommon(dir, 'backend')}
  server {
${ports.map((p) => `    listen 127.0.0.1:${p} backlog=4096;`).join('\n')}
    root ${www};
    location = /big { default_type text/plain; }
    location = /health { return 200 "ok\\n"; }
    location = /upload { return 200 "ok\\n"; }
    location / { return 200 ${JSON.stringify(SMALL_BODY)}; }
  }
  server {
    listen 127.0.0.1:${h2cPort} http2 backlog=4096;
    root ${www};
    location = /health { return 200 "ok\\n"; }
    location / { return 200 ${JSON.stringify(SMALL_BODY)}; }
  }
}
`);
    proc = startProcess(pinned(core, ['nginx', '-p', dir, '-c', conf, '-e', join(dir, 'backend-error.log')]), join(dir, 'backend.log'));
  } else if (tools.go) {
    kind = 'go';
    proc = startProcess(pinned(core, [tools.go.backend, '-ports', ports.join(',')]), join(dir, 'backend.log'), { GOMAXPROCS: '1' });
  } else {
    throw new Error('no benchmark backend: neither nginx nor go is installed');
  }
  for (const port of [ports[0], ports[ports.length - 1]]) await waitForOk(`http://127.0.0.1:${port}/health`, 10_000, `${kind} backend`, proc);
  return { kind, ports, h2cPort, stop: () => stopProcess(proc) };
}

/** The gRPC backends (bench/peers/grpc/backend, GOMAXPROCS=1) on the load core. */
export async function startGrpcBackends(dir: string, count: number, binary: string, core: string | undefined): Promise<GrpcBackends> {
  const [statsPort, ...ports] = await freePorts(count + 1);
  const proc = startProcess(pinned(core, [binary, '-ports', ports.join(','), '-stats', String(statsPort)]), join(dir, 'grpc-backend.log'), { GOMAXPROCS: '1' });
  const stats = `http://127.0.0.1:${statsPort}/counts`;
  await waitForOk(stats, 10_000, 'gRPC backends', proc);
  return {
    ports,
    pid: proc.child.pid,
    counts: async () => (await (await fetch(stats, { signal: AbortSignal.timeout(5000) })).json()) as Record<string, number>,
    stop: () => stopProcess(proc),
  };
}

function nginxCommon(dir: string, name: string): string {
  return `daemon off;
master_process off;
worker_processes 1;
pid ${join(dir, `${name}-nginx.pid`)};
error_log ${join(dir, `${name}-error.log`)} warn;
events { worker_connections 8192; multi_accept on; }`;
}

function nginxHttpCommon(dir: string, name: string): string {
  const tmp = join(dir, `${name}-tmp`);
  mkdirSync(tmp, { recursive: true });
  return `access_log off;
  client_body_temp_path ${tmp}/body; proxy_temp_path ${tmp}/proxy; fastcgi_temp_path ${tmp}/fcgi;
  uwsgi_temp_path ${tmp}/uwsgi; scgi_temp_path ${tmp}/scgi;
  sendfile on; tcp_nopush on; tcp_nodelay on;
  keepalive_timeout 120s; keepalive_requests 10000000;`;
}

export interface Contender {
  name: string;
  /** What it is, for the table and the JSON. */
  description: string;
  /** Why it is not running, when it is not. */
  missing?: string;
  url?: string;
  pid?: number;
  proc?: Started;
  /** HTTP/2 with prior knowledge (h2c) in, HTTP/1.1 to the same backends; absent when it cannot. */
  h2cUrl?: string;
  /** gRPC, h2c both sides, to the gRPC backends: host:port and the process serving it. */
  grpc?: { target: string; pid?: number; proc?: Started };
}

/** What the contenders balance for the HTTP/2 workloads (each absent when its tool is). */
export interface H2Backends {
  /** The backends' own h2c port (`direct` for h2c). */
  h2cPort: number;
  grpcPorts?: number[];
}

export interface SluiceOptions {
  healthInterval?: string;
  accessLog?: boolean;
  /** admin.metrics (default on, as for users). */
  metrics?: boolean;
  extraArgs?: string[];
  /** Node flags before the script, e.g. --cpu-prof. */
  nodeFlags?: string[];
  /** Another tree's bin/sluice.js (bench/ab.ts); default: the staged package's. */
  bin?: string;
  /** A command that runs node (`valgrind --tool=callgrind ...`, bench/h2-floor.ts); implies `node FLAGS bin/sluice.js`. */
  wrap?: string[];
  env?: NodeJS.ProcessEnv;
  readyTimeoutMs?: number;
}

export interface StartedSluice {
  url: string;
  adminUrl: string;
  proc: Started;
  /** ms from spawn to /readyz 200. */
  readyMs: number;
}

let staged: string | undefined;

/**
 * The package as users install it: `npm run build`, then bin/, dist/ and package.json in a
 * directory of their own (node_modules linked), so sluice runs the compiled JavaScript that the
 * tarball and the image ship, not the TypeScript sources. Built once per bench run.
 */
export function stagedPackage(dir: string): string {
  if (staged) return staged;
  const build = spawnSync('npm', ['run', '--silent', 'build'], { cwd: ROOT, stdio: 'inherit' });
  if (build.status !== 0) throw new Error('npm run build failed');
  staged = join(dir, 'package');
  mkdirSync(staged, { recursive: true });
  for (const entry of ['bin', 'dist', 'package.json']) cpSync(join(ROOT, entry), join(staged, entry), { recursive: true });
  symlinkSync(join(ROOT, 'node_modules'), join(staged, 'node_modules'));
  return staged;
}

/**
 * Starts sluice the way users do: the installed command (its shebang line runs node with the
 * start-up flags), or with `nodeFlags`, `node FLAGS bin/sluice.js`. `bin` defaults to the staged
 * package's. stdout (pino) goes to a file.
 */
export async function startSluiceWith(dir: string, name: string, core: string | undefined, configLines: string[], options: SluiceOptions = {}): Promise<StartedSluice> {
  const [port, adminPort] = [await freePort(), await freePort()];
  const config = join(dir, `${name}.yaml`);
  writeFileSync(config, [
    `listen: "127.0.0.1:${port}"`,
    'admin:',
    `  listen: "127.0.0.1:${adminPort}"`,
    ...(options.metrics === false ? ['  metrics: false'] : []),
    ...configLines,
    '',
  ].join('\n'));
  const bin = options.bin ?? join(stagedPackage(dir), 'bin/sluice.js');
  const command = options.nodeFlags?.length || options.bin || options.wrap ? [...(options.wrap ?? []), process.execPath, ...(options.nodeFlags ?? []), bin] : [bin];
  // The shebang's `env node` must find this Node (24), as a user's PATH would.
  const env = { PATH: `${dirname(process.execPath)}:${process.env.PATH ?? ''}`, ...options.env };
  const spawned = performance.now();
  const proc = startProcess(pinned(core, [...command, '--config', config, ...(options.extraArgs ?? [])]), join(dir, `${name}.log`), env);
  await waitForOk(`http://127.0.0.1:${adminPort}/readyz`, options.readyTimeoutMs ?? 20_000, name, proc);
  const readyMs = performance.now() - spawned;
  return { url: `http://127.0.0.1:${port}`, adminUrl: `http://127.0.0.1:${adminPort}`, proc, readyMs };
}

/** `sluice --config FILE` with a static pool of 127.0.0.1 backends. */
export async function startSluice(dir: string, name: string, backends: number[], core: string | undefined, options: SluiceOptions = {}): Promise<StartedSluice> {
  return startSluiceWith(dir, name, core, [
    ...(options.healthInterval ? ['healthCheck:', `  interval: ${options.healthInterval}`, `  timeout: ${options.healthInterval}`] : []),
    `accessLog: ${options.accessLog ?? false}`,
    'backends:',
    ...backends.map((p) => `  - url: http://127.0.0.1:${p}`),
  ], options);
}

/** Waits until every backend of a sluice is healthy, so load is spread as configured. */
export async function waitAllHealthy(adminUrl: string, count: number, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const status = (await (await fetch(`${adminUrl}/status`)).json()) as { backends: { healthy: boolean }[] };
    if (status.backends.filter((b) => b.healthy).length === count) return;
    if (Date.now() > deadline) throw new Error(`only ${status.backends.filter((b) => b.healthy).length}/${count} backends healthy`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** sluice for gRPC: its own process (one pool per process), upstream h2c, gRPC health checks. */
export async function startGrpcSluice(dir: string, name: string, ports: number[], core: string | undefined, options: SluiceOptions = {}): Promise<StartedSluice> {
  const started = await startSluiceWith(dir, name, core, [
    'upstream:',
    '  protocol: h2c',
    'healthCheck:',
    '  type: grpc',
    `accessLog: ${options.accessLog ?? false}`,
    'backends:',
    ...ports.map((p) => `  - url: http://127.0.0.1:${p}`),
  ], options);
  await waitAllHealthy(started.adminUrl, ports.length);
  return started;
}

/** HAProxy's global and defaults sections as every benchmark runs it: one thread, HTTP mode. */
export const HAPROXY_ONE_THREAD = `global
  nbthread 1
  maxconn 4096
defaults
  mode http
  timeout connect 5s
  timeout client 60s
  timeout server 60s`;

/** Starts every contender on the contender core; a missing tool yields a `missing` entry. */
export async function startContenders(dir: string, backends: number[], tools: Tools, core: string | undefined, h2?: H2Backends): Promise<Contender[]> {
  const urls = backends.map((p) => `http://127.0.0.1:${p}`);
  const grpcPorts = h2?.grpcPorts;
  const contenders: Contender[] = [];

  contenders.push({
    name: 'direct', description: 'the load generator straight to one backend (the ceiling)', url: urls[0],
    ...(h2 ? { h2cUrl: `http://127.0.0.1:${h2.h2cPort}` } : {}),
    ...(grpcPorts ? { grpc: { target: `127.0.0.1:${grpcPorts[0]}` } } : {}),
  });

  const sluice = await startSluice(dir, 'sluice', backends, core);
  await waitAllHealthy(sluice.adminUrl, backends.length);
  let sluiceGrpc: Contender['grpc'];
  if (grpcPorts) {
    const started = await startGrpcSluice(dir, 'sluice-grpc', grpcPorts, core);
    sluiceGrpc = { target: new URL(started.url).host, pid: started.proc.child.pid, proc: started.proc };
  }
  contenders.push({
    name: 'sluice', description: 'sluice, default config (round robin, 10s health checks, retries 2); for gRPC a second process with upstream.protocol h2c and gRPC health checks',
    url: sluice.url, pid: sluice.proc.child.pid, proc: sluice.proc,
    // HTTP/2 with prior knowledge shares the proxy port.
    ...(h2 ? { h2cUrl: sluice.url } : {}),
    ...(sluiceGrpc ? { grpc: sluiceGrpc } : {}),
  });

  {
    const port = await freePort();
    const proc = startProcess(pinned(core, [process.execPath, join(ROOT, 'bench/peers/http-proxy-balancer.ts'), String(port), ...urls]), join(dir, 'http-proxy.log'));
    const url = `http://127.0.0.1:${port}`;
    await waitForOk(url, 10_000, 'http-proxy balancer', proc);
    contenders.push({ name: 'http-proxy', description: 'minimal http-proxy round robin, keep-alive agent (bench/peers)', url, pid: proc.child.pid, proc });
  }

  if (tools.go) {
    const port = await freePort();
    const proc = startProcess(pinned(core, [tools.go.goproxy, '-listen', `127.0.0.1:${port}`, '-backends', urls.join(',')]), join(dir, 'go-proxy.log'), { GOMAXPROCS: '1' });
    const url = `http://127.0.0.1:${port}`;
    await waitForOk(url, 10_000, 'Go ReverseProxy', proc);
    contenders.push({ name: 'go-httputil', description: 'Go httputil.ReverseProxy round robin, GOMAXPROCS=1 (bench/peers)', url, pid: proc.child.pid, proc });
  } else {
    contenders.push({ name: 'go-httputil', description: 'Go httputil.ReverseProxy round robin', missing: 'go is not installed (or the peer build failed)' });
  }

  if (tools.haproxy) {
    const [port, h2cPort, grpcPort] = await freePorts(3);
    const conf = join(dir, 'haproxy.cfg');
    writeFileSync(conf, `${HAPROXY_ONE_THREAD}
  timeout http-keep-alive 60s
  option http-keep-alive
  option forwardfor
  http-reuse always
frontend fe
  bind 127.0.0.1:${port}
  default_backend be
${h2 ? `frontend fe_h2c
  bind 127.0.0.1:${h2cPort} proto h2
  default_backend be
` : ''}${grpcPorts ? `frontend fe_grpc
  bind 127.0.0.1:${grpcPort} proto h2
  default_backend be_grpc
backend be_grpc
  balance roundrobin
${grpcPorts.map((p, i) => `  server g${i} 127.0.0.1:${p} proto h2`).join('\n')}
` : ''}backend be
  balance roundrobin
${backends.map((p, i) => `  server b${i} 127.0.0.1:${p}`).join('\n')}
`);
    const proc = startProcess(pinned(core, ['haproxy', '-db', '-f', conf]), join(dir, 'haproxy.log'));
    const url = `http://127.0.0.1:${port}`;
    await waitForOk(url, 10_000, 'HAProxy', proc);
    contenders.push({
      name: 'haproxy', description: 'HAProxy, nbthread 1, roundrobin, http-reuse always; h2c in: bind ... proto h2; gRPC: proto h2 on the servers too', url, pid: proc.child.pid, proc,
      ...(h2 ? { h2cUrl: `http://127.0.0.1:${h2cPort}` } : {}),
      ...(grpcPorts ? { grpc: { target: `127.0.0.1:${grpcPort}`, pid: proc.child.pid, proc } } : {}),
    });
  } else {
    contenders.push({ name: 'haproxy', description: 'HAProxy, nbthread 1', missing: 'haproxy is not installed' });
  }

  if (tools.nginx) {
    const [port, h2cPort, grpcPort] = await freePorts(3);
    const conf = join(dir, 'proxy-nginx.conf');
    // The same HTTP/1.1 upstream for both ways in (HTTP/1.1 and h2c).
    const proxyToBe = `    location / {
      proxy_pass http://be;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $host;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_set_header X-Forwarded-Proto $scheme;
      proxy_request_buffering off;
      proxy_buffering off;
    }`;
    writeFileSync(conf, `${nginxCommon(dir, 'proxy')}
http {
  ${nginxHttpCommon(dir, 'proxy')}
  upstream be {
${backends.map((p) => `    server 127.0.0.1:${p};`).join('\n')}
    keepalive 1024;
    keepalive_requests 10000000;
    keepalive_timeout 120s;
  }
  server {
    listen 127.0.0.1:${port} backlog=4096;
${proxyToBe}
  }
${h2 ? `  server {
    listen 127.0.0.1:${h2cPort} http2 backlog=4096;
${proxyToBe}
  }
` : ''}${grpcPorts ? `  upstream be_grpc {
${grpcPorts.map((p) => `    server 127.0.0.1:${p};`).join('\n')}
    keepalive 1024;
    keepalive_requests 10000000;
    keepalive_timeout 120s;
  }
  server {
    listen 127.0.0.1:${grpcPort} http2 backlog=4096;
    location / {
      grpc_pass grpc://be_grpc;
      grpc_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
    }
  }
` : ''}}
`);
    const proc = startProcess(pinned(core, ['nginx', '-p', dir, '-c', conf, '-e', join(dir, 'proxy-error.log')]), join(dir, 'proxy-nginx.log'));
    const url = `http://127.0.0.1:${port}`;
    await waitForOk(url, 10_000, 'NGINX proxy', proc);
    contenders.push({
      name: 'nginx', description: 'NGINX, worker_processes 1, round robin, upstream keepalive; h2c in: listen ... http2; gRPC: grpc_pass', url, pid: proc.child.pid, proc,
      ...(h2 ? { h2cUrl: `http://127.0.0.1:${h2cPort}` } : {}),
      ...(grpcPorts ? { grpc: { target: `127.0.0.1:${grpcPort}`, pid: proc.child.pid, proc } } : {}),
    });
  } else {
    contenders.push({ name: 'nginx', description: 'NGINX, worker_processes 1', missing: 'nginx is not installed' });
  }
  return contenders;
}
