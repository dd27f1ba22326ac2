// Who we are and where the API server is: in-cluster service account or a kubeconfig, resolved
// once at startup so every credential problem is one sentence and exit code 2. Requests go out
// through undici with the headers and TLS settings @kubernetes/client-node derives from that
// config (so token files, exec plugins and client certificates keep working as kubectl's do).

import { accessSync, existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { delimiter, join, resolve } from 'node:path';
import { HttpMethod, KubeConfig, RequestContext } from './client-node-config.ts';
// undici's Agent and request modules alone, not the package index (see src/pool/undici-modules.d.ts).
import Agent from 'undici/lib/dispatcher/agent.js';
import request from 'undici/lib/api/api-request.js';
import type { Dispatcher } from 'undici';
import { SluiceError } from '../../errors.ts';
import type { DiscoveryOptions } from '../discovery.ts';
import type { KubeStatus } from './kube-types.ts';

const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';
/** No response headers within this long: the request failed (the watch body has no such limit). */
const HEADERS_TIMEOUT_MS = 30_000;
/** A list must finish within this long. */
const LIST_BODY_TIMEOUT_MS = 30_000;

/** The API server answered with an error status (or a watch sent an ERROR event). */
export class KubeApiError extends Error {
  readonly status: number;
  readonly reason: string | undefined;
  readonly apiMessage: string;
  constructor(status: number, body: KubeStatus | undefined) {
    const apiMessage = body?.message ?? '';
    super(`${status} ${body?.reason ?? ''}${apiMessage ? `: ${apiMessage}` : ''}`.trim());
    this.name = 'KubeApiError';
    this.status = status;
    this.reason = body?.reason;
    this.apiMessage = apiMessage;
  }
}

export interface KubeClientInfo {
  /** The API server's URL, for messages. */
  server: string;
  /** Where the credentials came from, for messages ("in-cluster service account", "kubeconfig /x (context y)"). */
  credentials: string;
  /** discovery.kubernetes.namespace's default: the pod's namespace in-cluster, else "default". */
  defaultNamespace: string;
  inCluster: boolean;
}

export class KubeClient {
  readonly info: KubeClientInfo;
  private readonly kc: KubeConfig;
  /** Used when the config needs no TLS settings of its own (plain http). */
  private readonly plain = new Agent({ connect: { keepAlive: true, keepAliveInitialDelay: 30_000 } });
  /** Per-request dispatchers still open, closed on close() so nothing dangles. */
  private readonly open = new Set<Dispatcher>();
  private readonly userAgent: string;

  constructor(kc: KubeConfig, info: KubeClientInfo, userAgent = 'sluice') {
    this.kc = kc;
    this.info = info;
    this.userAgent = userAgent;
  }

  /** Resolves credentials as the issue specifies; throws SluiceError (exit 2) with one sentence. */
  static load(options: DiscoveryOptions, env: NodeJS.ProcessEnv = process.env, userAgent?: string): KubeClient {
    const { kc, info } = loadKubeConfig(options, env);
    return new KubeClient(kc, info, userAgent);
  }

  /** GET returning parsed JSON; throws KubeApiError on an error status, or the transport error. */
  async getJson<T>(path: string, query: Record<string, string>, signal: AbortSignal): Promise<T> {
    const { res, release } = await this.send(path, query, signal, LIST_BODY_TIMEOUT_MS);
    try {
      const text = await res.body.text();
      if (res.statusCode !== 200) throw new KubeApiError(res.statusCode, parseStatus(text));
      return JSON.parse(text) as T;
    } finally {
      release();
    }
  }

  /**
   * Opens a watch and yields its lines (one JSON event each) until the server ends it, the signal
   * aborts it or the connection fails (then the iteration throws).
   */
  async watch(path: string, query: Record<string, string>, signal: AbortSignal): Promise<AsyncIterable<string>> {
    const { res, release } = await this.send(path, { ...query, watch: '1' }, signal, 0);
    if (res.statusCode !== 200) {
      try {
        throw new KubeApiError(res.statusCode, parseStatus(await res.body.text()));
      } finally {
        release();
      }
    }
    return lines(res.body, release);
  }

  async close(): Promise<void> {
    const all = [...this.open, this.plain];
    this.open.clear();
    await Promise.all(all.map((d) => d.destroy().catch(() => {})));
  }

  private async send(path: string, query: Record<string, string>, signal: AbortSignal, bodyTimeout: number): Promise<{ res: Dispatcher.ResponseData; release: () => void }> {
    const url = new URL(this.info.server.replace(/\/+$/, '') + path);
    for (const [key, value] of Object.entries(query)) url.searchParams.set(key, value);
    const ctx = new RequestContext(url.toString(), HttpMethod.GET);
    // Fresh headers per request: token files are re-read, exec plugins refresh expired tokens.
    await this.kc.applySecurityAuthentication(ctx);
    // The client makes a new dispatcher with the TLS settings each time; it is ours to close.
    const own = ctx.getDispatcher();
    const dispatcher = own ?? this.plain;
    if (own) this.open.add(own);
    const release = (): void => {
      if (!own || !this.open.delete(own)) return;
      own.destroy().catch(() => {});
    };
    try {
      const res = await request.call(dispatcher, {
        origin: url.origin,
        path: url.pathname + url.search,
        method: 'GET',
        headers: { ...ctx.getHeaders(), accept: 'application/json', 'user-agent': this.userAgent },
        signal,
        headersTimeout: HEADERS_TIMEOUT_MS,
        bodyTimeout,
      });
      return { res, release };
    } catch (err) {
      release();
      throw err;
    }
  }
}

async function* lines(body: AsyncIterable<Buffer>, release: () => void): AsyncGenerator<string> {
  const decoder = new TextDecoder();
  let buffered = '';
  try {
    for await (const chunk of body) {
      buffered += decoder.decode(chunk, { stream: true });
      let newline: number;
      while ((newline = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, newline).trim();
        buffered = buffered.slice(newline + 1);
        if (line) yield line;
      }
    }
    const rest = (buffered + decoder.decode()).trim();
    if (rest) yield rest;
  } finally {
    release();
  }
}

function parseStatus(text: string): KubeStatus | undefined {
  try {
    const parsed = JSON.parse(text) as KubeStatus;
    return typeof parsed === 'object' && parsed !== null ? parsed : undefined;
  } catch {
    return text.trim() ? { message: text.trim().slice(0, 200) } : undefined;
  }
}

function configError(message: string): SluiceError {
  return new SluiceError('SLUICE_KUBECONFIG', message, 2);
}

/**
 * In-cluster service account when KUBERNETES_SERVICE_HOST is set and neither --kubeconfig nor
 * --context is given; else the kubeconfig from --kubeconfig, $KUBECONFIG or ~/.kube/config.
 */
export function loadKubeConfig(options: DiscoveryOptions, env: NodeJS.ProcessEnv): { kc: KubeConfig; info: KubeClientInfo } {
  const kc = new KubeConfig();
  if (env.KUBERNETES_SERVICE_HOST && !options.kubeconfig && !options.context) {
    const tokenFile = join(SERVICE_ACCOUNT_DIR, 'token');
    if (!readable(tokenFile)) {
      throw configError(`running in a cluster (KUBERNETES_SERVICE_HOST is set) but the service account token ${tokenFile} is not readable; mount a service account token or pass --kubeconfig`);
    }
    kc.loadFromCluster();
    const cluster = kc.getCurrentCluster();
    const namespaceFile = join(SERVICE_ACCOUNT_DIR, 'namespace');
    const namespace = readable(namespaceFile) ? readFileSync(namespaceFile, 'utf8').trim() : '';
    return {
      kc,
      info: { server: cluster?.server ?? '', credentials: 'the in-cluster service account', defaultNamespace: namespace || 'default', inCluster: true },
    };
  }

  const files = kubeconfigFiles(options, env);
  files.forEach((file, i) => {
    const one = new KubeConfig();
    try {
      one.loadFromFile(file);
    } catch (err) {
      // An empty YAML document surfaces as an error or a TypeError inside the client.
      const empty = err instanceof TypeError || /input is empty/.test(String(err));
      const why = empty ? 'the file is empty' : firstLine(err);
      throw configError(`cannot use kubeconfig ${file}: ${why}`);
    }
    if (i === 0) {
      kc.loadFromOptions({ clusters: [...one.clusters], users: [...one.users], contexts: [...one.contexts], currentContext: one.currentContext });
      return;
    }
    // kubectl's merge rule: the first file to define a name wins.
    for (const c of one.clusters) if (!kc.getCluster(c.name)) kc.clusters.push(c);
    for (const u of one.users) if (!kc.getUser(u.name)) kc.users.push(u);
    for (const c of one.contexts) if (!kc.getContextObject(c.name)) kc.contexts.push(c);
    if (!kc.currentContext) kc.currentContext = one.currentContext;
  });
  const where = files.length === 1 ? `kubeconfig ${files[0]}` : `kubeconfig ${files.join(delimiter)}`;

  if (options.context !== undefined) {
    if (!kc.getContextObject(options.context)) {
      const known = kc.contexts.map((c) => c.name);
      throw configError(`${where} has no context "${options.context}"${known.length ? ` (it has: ${known.join(', ')})` : ''}`);
    }
    kc.setCurrentContext(options.context);
  }
  if (kc.contexts.length === 0) throw configError(`${where} defines no contexts; it is not a usable kubeconfig`);
  const contextName = kc.getCurrentContext();
  if (!contextName) throw configError(`${where} has no current-context; pass --context NAME`);
  const context = kc.getContextObject(contextName);
  if (!context) throw configError(`${where}: the current context "${contextName}" is not defined`);
  const cluster = kc.getCluster(context.cluster);
  if (!cluster) throw configError(`${where}: context "${contextName}" refers to cluster "${context.cluster}", which is not defined`);
  if (!cluster.server) throw configError(`${where}: cluster "${cluster.name}" has no server address`);
  if (cluster.server.startsWith('http:') && !cluster.skipTLSVerify) {
    throw configError(`${where}: cluster "${cluster.name}" uses plain http (${cluster.server}); the Kubernetes client needs https, or insecure-skip-tls-verify: true for a local proxy`);
  }
  if (context.user && !kc.getUser(context.user)) throw configError(`${where}: context "${contextName}" refers to user "${context.user}", which is not defined`);
  const user = kc.getCurrentUser();
  for (const [what, file] of [['certificate-authority', cluster.caFile], ['client-certificate', user?.certFile], ['client-key', user?.keyFile]] as const) {
    if (file && !readable(file)) throw configError(`${where}: the ${what} file ${file} is not readable`);
  }
  return {
    kc,
    info: { server: cluster.server, credentials: `${where} (context ${contextName})`, defaultNamespace: 'default', inCluster: false },
  };
}

function kubeconfigFiles(options: DiscoveryOptions, env: NodeJS.ProcessEnv): string[] {
  if (options.kubeconfig !== undefined) {
    const file = resolve(options.kubeconfig);
    if (!readable(file)) throw configError(`cannot read kubeconfig ${file} (--kubeconfig): ${existsSync(file) ? 'permission denied' : 'no such file'}`);
    return [file];
  }
  if (env.KUBECONFIG) {
    const listed = env.KUBECONFIG.split(delimiter).filter((f) => f !== '').map((f) => resolve(f));
    // As kubectl does: files in $KUBECONFIG that do not exist are skipped.
    const files = listed.filter((f) => existsSync(f));
    for (const f of files) if (!readable(f)) throw configError(`cannot read kubeconfig ${f} (from $KUBECONFIG): permission denied`);
    if (files.length === 0) throw configError(`no kubeconfig found: none of the files in $KUBECONFIG exist (${listed.join(delimiter)})`);
    return files;
  }
  const file = join(env.HOME || homedir(), '.kube', 'config');
  if (!existsSync(file)) {
    throw configError(`no Kubernetes credentials: not running in a cluster (KUBERNETES_SERVICE_HOST is unset), no --kubeconfig, $KUBECONFIG is unset and ${file} does not exist`);
  }
  if (!readable(file)) throw configError(`cannot read kubeconfig ${file}: permission denied`);
  return [file];
}

function readable(file: string): boolean {
  try {
    accessSync(file, 4 /* R_OK */);
    return true;
  } catch {
    return false;
  }
}

function firstLine(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  return text.split('\n')[0].replace(/\.$/, '');
}
