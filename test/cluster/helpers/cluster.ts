// The real control plane that scripts/cluster/test.sh started (etcd + kube-apiserver), and what
// tests do to it: write objects as the admin, run kubectl/helm, restart or freeze the API
// server, compact etcd.

import { execFile, spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { KubeConfig, KubernetesObjectApi, PatchStrategy, type KubernetesObject } from '@kubernetes/client-node';
import { Agent, request } from 'undici';
import { eventually } from '../../helpers/eventually.ts';

function required(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run this suite with "npm run test:cluster" (scripts/cluster/test.sh)`);
  return value;
}

export const env = {
  get dir(): string { return required('SLUICE_CLUSTER_DIR'); },
  get kubeconfig(): string { return required('KUBECONFIG'); },
  get server(): string { return required('SLUICE_KUBE_SERVER'); },
  get caFile(): string { return required('SLUICE_KUBE_CA_FILE'); },
  get adminToken(): string { return required('SLUICE_KUBE_TOKEN'); },
  get etcd(): string { return required('SLUICE_ETCD_ENDPOINT'); },
  get kubectl(): string { return required('TEST_ASSET_KUBECTL'); },
  get helm(): string { return required('TEST_ASSET_HELM'); },
};

let objectApi: KubernetesObjectApi | undefined;
function api(): KubernetesObjectApi {
  if (!objectApi) {
    const kc = new KubeConfig();
    kc.loadFromFile(env.kubeconfig);
    objectApi = KubernetesObjectApi.makeApiClient(kc);
  }
  return objectApi;
}

/** Creates or updates an object (server-side apply, as the only field manager). */
export async function apply<T extends KubernetesObject>(object: T): Promise<T> {
  return api().patch(object, undefined, undefined, 'sluice-cluster-test', true, PatchStrategy.ServerSideApply);
}

export async function remove(object: KubernetesObject): Promise<void> {
  try {
    await api().delete(object);
  } catch (err) {
    if ((err as { code?: number }).code !== 404) throw err;
  }
}

export interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a command to completion; never throws for a non-zero exit. */
export function run(command: string, args: string[], input?: string, extraEnv: Record<string, string> = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = execFile(command, args, { env: { ...process.env, ...extraEnv }, maxBuffer: 32 * 1024 * 1024, timeout: 120_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : -1) : 0;
      if (err && code === -1 && !stderr) reject(err);
      else resolve({ code, stdout, stderr });
    });
    if (input !== undefined) child.stdin!.end(input);
  });
}

export async function kubectl(args: string[], input?: string): Promise<Run> {
  return run(env.kubectl, ['--kubeconfig', env.kubeconfig, ...args], input);
}

/** kubectl that must succeed. */
export async function kubectlOk(args: string[], input?: string): Promise<string> {
  const r = await kubectl(args, input);
  if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')} failed (${r.code}): ${r.stderr.trim()}`);
  return r.stdout;
}

export async function ensureNamespace(name: string): Promise<void> {
  await apply({ apiVersion: 'v1', kind: 'Namespace', metadata: { name } });
}

/** A kubeconfig for the test cluster that authenticates with `token` (e.g. a ServiceAccount's). */
export function writeTokenKubeconfig(file: string, token: string): string {
  const ca = readFileSync(env.caFile).toString('base64');
  writeFileSync(file, [
    'apiVersion: v1',
    'kind: Config',
    'clusters:',
    '- name: test',
    '  cluster:',
    `    server: ${env.server}`,
    `    certificate-authority-data: ${ca}`,
    'users:',
    '- name: token',
    '  user:',
    `    token: ${token}`,
    'contexts:',
    '- name: test',
    '  context:',
    '    cluster: test',
    '    user: token',
    'current-context: test',
    '',
  ].join('\n'));
  return file;
}

// ---- the API server process ---------------------------------------------------------------

const pidFile = (): string => join(env.dir, 'kube-apiserver.pid');

function apiserverPid(): number {
  return Number(readFileSync(pidFile(), 'utf8').trim());
}

function alive(pid: number): boolean {
  if (!existsSync(`/proc/${pid}`)) return false;
  try {
    return readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.[0] !== 'Z';
  } catch {
    return false;
  }
}

let caAgent: Agent | undefined;
export async function apiserverReady(): Promise<boolean> {
  caAgent ??= new Agent({ connect: { ca: readFileSync(env.caFile) } });
  try {
    const res = await request(`${env.server}/readyz`, { dispatcher: caAgent, headers: { authorization: `Bearer ${env.adminToken}` }, headersTimeout: 2000, bodyTimeout: 2000 });
    return res.statusCode === 200 && (await res.body.text()).trim() === 'ok';
  } catch {
    return false;
  }
}

/** SIGTERM (SIGKILL after 20s) and wait until the process is gone. */
export async function stopApiserver(): Promise<void> {
  const pid = apiserverPid();
  process.kill(pid, 'SIGTERM');
  const killer = setTimeout(() => { try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ } }, 20_000);
  try {
    await eventually(() => !alive(pid), 'kube-apiserver to exit', 30_000, 50);
  } finally {
    clearTimeout(killer);
  }
}

/** Starts kube-apiserver again with exactly the arguments control-plane.sh used, and waits for /readyz. */
export async function startApiserver(): Promise<void> {
  const cmdline = join(env.dir, 'kube-apiserver.cmdline');
  const log = join(env.dir, 'kube-apiserver.log');
  // The cmdline file holds printf-%q-quoted words. Not detached, so setsid execs in place and
  // the pid we record is the API server's own (control-plane.sh stop kills it by that pid).
  const child = spawn('bash', ['-c', 'f=$1 l=$2; eval "set -- $(cat "$f")"; exec setsid "$@" </dev/null >>"$l" 2>&1', 'restart', cmdline, log], { stdio: 'ignore' });
  child.unref();
  const pid = child.pid!;
  writeFileSync(pidFile(), `${pid}\n`);
  const deadline = Date.now() + 90_000;
  while (!(await apiserverReady())) {
    if (!alive(pid)) throw new Error(`kube-apiserver exited right after its restart; see ${log}`);
    if (Date.now() > deadline) throw new Error(`kube-apiserver not ready 90s after its restart; see ${log}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

export function freezeApiserver(): void {
  process.kill(apiserverPid(), 'SIGSTOP');
}

export function thawApiserver(): void {
  process.kill(apiserverPid(), 'SIGCONT');
}

// ---- etcd ---------------------------------------------------------------------------------------

async function etcdPost(path: string, body: object): Promise<Record<string, unknown>> {
  const res = await request(`${env.etcd}${path}`, { method: 'POST', body: JSON.stringify(body), headers: { 'content-type': 'application/json' } });
  const json = (await res.body.json()) as Record<string, unknown>;
  if (res.statusCode !== 200) throw new Error(`etcd ${path}: ${res.statusCode} ${JSON.stringify(json)}`);
  return json;
}

export async function etcdRevision(): Promise<number> {
  const json = await etcdPost('/v3/kv/range', { key: Buffer.from('\0').toString('base64') });
  return Number((json.header as { revision: string }).revision);
}

/** Compacts etcd's history up to `revision`: older resourceVersions are gone for good. */
export async function compactEtcd(revision: number): Promise<void> {
  await etcdPost('/v3/kv/compaction', { revision: String(revision), physical: true });
}

/** The etcd key the API server stores a namespaced object under (found by its suffix, not guessed). */
export async function etcdKeyOf(resource: string, namespace: string, name: string): Promise<string> {
  const b64 = (text: string): string => Buffer.from(text).toString('base64');
  const json = await etcdPost('/v3/kv/range', { key: b64('/registry/'), range_end: b64('/registry0'), keys_only: true });
  const keys = ((json.kvs ?? []) as { key: string }[]).map((kv) => Buffer.from(kv.key, 'base64').toString());
  const key = keys.find((k) => k.endsWith(`/${resource}/${namespace}/${name}`));
  if (!key) throw new Error(`no etcd key for ${resource} ${namespace}/${name}`);
  return key;
}

/**
 * Writes an object straight into etcd, behind the API server's back: the way to change
 * something while the API server is frozen. JSON is fine: the API server's storage decoder
 * falls back to its universal deserializer (JSON, YAML or protobuf).
 */
export async function etcdPutObject(key: string, object: object): Promise<void> {
  await etcdPost('/v3/kv/put', { key: Buffer.from(key).toString('base64'), value: Buffer.from(JSON.stringify(object)).toString('base64') });
}

/** After a failed test: the API server must be running and answering for the next one. */
export async function ensureApiserverRunning(): Promise<void> {
  const pid = apiserverPid();
  if (alive(pid)) {
    process.kill(pid, 'SIGCONT');
    await eventually(apiserverReady, 'kube-apiserver /readyz', 60_000, 100);
    return;
  }
  await startApiserver();
}
