// Who we are and where the API server is: in-cluster service account or a kubeconfig, resolved
// once at startup so every credential problem is one sentence and exit code 2. Requests go out
// through Node's own http/https client with the headers and TLS settings @kubernetes/client-node
// derives from that config (so token files, exec plugins and client certificates keep working as
// kubectl's do). Not undici: its HTTP parser is WebAssembly, and once watch traffic makes V8 tier
// that up, the compile leaves ~8 MB of RSS behind for good; Node's parser is native.

import { accessSync, existsSync, readFileSync } from 'node:fs';
import http, { type ClientRequest, type IncomingMessage } from 'node:http';
import https from 'node:https';
import { homedir } from 'node:os';
import { delimiter, join, resolve } from 'node:path';
import { TLSSocket } from 'node:tls';
import { KubeConfig } from './client-node-config.ts';
import { SluiceError } from '../../errors.ts';
import type { DiscoveryOptions } from '../discovery.ts';
import type { KubeStatus } from './kube-types.ts';

const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';
/** Time limits of the API requests; tests shorten them. */
export interface KubeClientLimits {
  /** No connection (TCP and TLS) within this long: the request failed. */
  connectMs: number;
  /** No response headers within this long: the request failed (a watch's body has no limit: the reflector's watchdog watches it). */
  headersMs: number;
  /** A list (or error) body that sends nothing for this long has stalled. */
  bodyIdleMs: number;
  /** A kept-alive connection idle this long is closed, well before the API server's own idle timeout (90s). */
  idleConnectionMs: number;
}

export const KUBE_CLIENT_LIMITS: KubeClientLimits = { connectMs: 10_000, headersMs: 30_000, bodyIdleMs: 30_000, idleConnectionMs: 30_000 };

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

/**
 * A transport failure Node reports without a telling code of its own: a timeout of ours, or the
 * API server closing the connection early (Node says ECONNRESET "socket hang up" / "aborted").
 * The Node error, if any, is the cause.
 */
export class KubeTransportError extends Error {
  readonly code: 'SLUICE_CONNECT_TIMEOUT' | 'SLUICE_RESPONSE_TIMEOUT' | 'SLUICE_BODY_TIMEOUT' | 'SLUICE_PREMATURE_CLOSE';
  constructor(code: KubeTransportError['code'], message: string, cause?: unknown) {
    super(message, cause === undefined ? undefined : { cause });
    this.name = 'KubeTransportError';
    this.code = code;
  }
}

/** A kept-alive connection turned out closed before it carried the request: safe to send again. */
class StaleConnection extends Error {
  readonly failure: unknown;
  constructor(failure: unknown) {
    super('a kept-alive connection was already closed');
    this.failure = failure;
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

/** One request whose response head has arrived. */
interface Exchange {
  res: IncomingMessage;
  /** What to throw for a failed body: the socket's own error (a reset) if there was one, else the stream's, translated. */
  bodyError: (err: unknown) => unknown;
  /** Ends the exchange; a body not read to its end takes its connection with it. */
  release: () => void;
}

export class KubeClient {
  readonly info: KubeClientInfo;
  private readonly kc: KubeConfig;
  /**
   * Ours, for every request without a proxy: keeps connections alive (TCP keep-alive after 30s)
   * and takes the TLS settings (CA, client certificate) from each request, so files re-read per
   * request count. client-node's own agent would pin the first request's settings and not pool.
   */
  private readonly agent: http.Agent;
  /** client-node's agents for a cluster with proxy-url (one per cluster and user, kept by it): closed on close(). */
  private readonly proxyAgents = new Set<http.Agent>();
  private readonly userAgent: string;
  private readonly limits: KubeClientLimits;

  constructor(kc: KubeConfig, info: KubeClientInfo, userAgent = 'sluice', limits: Partial<KubeClientLimits> = {}) {
    this.kc = kc;
    this.info = info;
    this.userAgent = userAgent;
    this.limits = { ...KUBE_CLIENT_LIMITS, ...limits };
    const options: http.AgentOptions = { keepAlive: true, keepAliveMsecs: 30_000, timeout: this.limits.idleConnectionMs };
    this.agent = info.server.startsWith('http:') ? new http.Agent(options) : new https.Agent(options);
  }

  /** Resolves credentials as the issue specifies; throws SluiceError (exit 2) with one sentence. */
  static load(options: DiscoveryOptions, env: NodeJS.ProcessEnv = process.env, userAgent?: string): KubeClient {
    const { kc, info } = loadKubeConfig(options, env);
    return new KubeClient(kc, info, userAgent);
  }

  /** GET returning parsed JSON; throws KubeApiError on an error status, or the transport error. */
  async getJson<T>(path: string, query: Record<string, string>, signal: AbortSignal): Promise<T> {
    const exchange = await this.send(path, query, signal);
    try {
      const text = await readBody(exchange, this.limits.bodyIdleMs);
      if (exchange.res.statusCode !== 200) throw new KubeApiError(exchange.res.statusCode ?? 0, parseStatus(text));
      return JSON.parse(text) as T;
    } finally {
      exchange.release();
    }
  }

  /**
   * Opens a watch and yields its lines (one JSON event each) until the server ends it, the signal
   * aborts it or the connection fails (then the iteration throws).
   */
  async watch(path: string, query: Record<string, string>, signal: AbortSignal): Promise<AsyncIterable<string>> {
    const exchange = await this.send(path, { ...query, watch: '1' }, signal);
    if (exchange.res.statusCode !== 200) {
      try {
        throw new KubeApiError(exchange.res.statusCode ?? 0, parseStatus(await readBody(exchange, this.limits.bodyIdleMs)));
      } finally {
        exchange.release();
      }
    }
    return lines(exchange);
  }

  async close(): Promise<void> {
    this.agent.destroy();
    for (const agent of this.proxyAgents) agent.destroy();
    this.proxyAgents.clear();
  }

  private async send(path: string, query: Record<string, string>, signal: AbortSignal): Promise<Exchange> {
    const url = new URL(this.info.server.replace(/\/+$/, '') + path);
    for (const [key, value] of Object.entries(query)) url.searchParams.set(key, value);
    for (let attempt = 1; ; attempt++) {
      signal.throwIfAborted();
      // Fresh per request: token files are re-read, exec plugins refresh expired tokens, CA and
      // certificate files are read again.
      const options: https.RequestOptions = {};
      await this.kc.applyToHTTPSOptions(options);
      signal.throwIfAborted();
      try {
        return await this.exchange(url, options, signal);
      } catch (err) {
        if (!(err instanceof StaleConnection)) throw err;
        // As Node's docs advise for a GET: send it again (on a new connection, unless another kept one is at hand).
        if (attempt >= 3) throw err.failure;
      }
    }
  }

  private exchange(url: URL, options: https.RequestOptions, signal: AbortSignal): Promise<Exchange> {
    // client-node sets an agent for every cluster; only a proxy's is needed (SOCKS or HTTP CONNECT).
    const proxyAgent = this.kc.getCurrentCluster()?.proxyUrl && options.agent instanceof http.Agent ? options.agent : undefined;
    if (proxyAgent) this.proxyAgents.add(proxyAgent);
    const send = url.protocol === 'http:' ? http.request : https.request;
    const { connectMs, headersMs } = this.limits;
    return new Promise((resolve, reject) => {
      let res: IncomingMessage | undefined;
      /** An error of the connection once the head is in: the body's reader reports it. */
      let socketError: unknown;
      let connectTimer: NodeJS.Timeout | undefined;
      const req: ClientRequest = send(url, {
        ...options,
        agent: proxyAgent ?? this.agent,
        method: 'GET',
        // No socket timeout while a request is on it (a watch may be quiet for minutes); the agent's idle timeout applies between requests.
        timeout: 0,
        headers: { ...options.headers, accept: 'application/json', 'user-agent': this.userAgent },
      });
      const headersTimer = setTimeout(() => {
        req.destroy(new KubeTransportError('SLUICE_RESPONSE_TIMEOUT', `no response headers from ${url.host} within ${headersMs / 1000}s`));
      }, headersMs);
      const onAbort = (): void => {
        res?.destroy(signal.reason as Error);
        req.destroy(signal.reason as Error);
      };
      signal.addEventListener('abort', onAbort, { once: true });
      const settle = (): void => {
        clearTimeout(connectTimer);
        clearTimeout(headersTimer);
      };
      req.on('socket', (socket) => {
        // A new connection (not one a proxy agent hands over ready-made): TCP and TLS in time.
        if (req.reusedSocket || !socket.connecting) return;
        connectTimer = setTimeout(() => {
          req.destroy(new KubeTransportError('SLUICE_CONNECT_TIMEOUT', `connect to ${url.host} timed out after ${connectMs / 1000}s`));
        }, connectMs);
        socket.once(socket instanceof TLSSocket ? 'secureConnect' : 'connect', () => clearTimeout(connectTimer));
      });
      req.on('error', (err: NodeJS.ErrnoException) => {
        if (res) {
          socketError ??= err;
          return;
        }
        settle();
        signal.removeEventListener('abort', onAbort);
        if (signal.aborted) return reject(signal.reason);
        const failure = transportError(err);
        if (req.reusedSocket && (err.code === 'ECONNRESET' || err.code === 'EPIPE')) return reject(new StaleConnection(failure));
        reject(failure);
      });
      req.on('response', (response: IncomingMessage) => {
        res = response;
        settle();
        resolve({
          res: response,
          bodyError: (err) => {
            if (err instanceof KubeTransportError || signal.aborted) return err;
            return socketError instanceof Error && (socketError as NodeJS.ErrnoException).syscall ? socketError : transportError(err);
          },
          release: () => {
            signal.removeEventListener('abort', onAbort);
            if (response.readableEnded) return;
            response.destroy();
            req.destroy();
          },
        });
      });
      req.end();
    });
  }
}

/** Node's words for "the API server closed the connection" get a code that says so (undici's was UND_ERR_SOCKET). */
function transportError(err: unknown): unknown {
  const e = err as NodeJS.ErrnoException | undefined;
  const closed = (e?.code === 'ECONNRESET' && e.syscall === undefined) || e?.code === 'ERR_STREAM_PREMATURE_CLOSE';
  return closed ? new KubeTransportError('SLUICE_PREMATURE_CLOSE', `the API server closed the connection (${e.message})`, e) : err;
}

/** The whole body as text; fails if it stalls for idleMs. */
function readBody({ res, bodyError }: Exchange, idleMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let timer: NodeJS.Timeout | undefined;
    const arm = (): void => {
      clearTimeout(timer);
      timer = setTimeout(() => {
        res.destroy(new KubeTransportError('SLUICE_BODY_TIMEOUT', `the response stalled: nothing for ${idleMs / 1000}s`));
      }, idleMs);
    };
    arm();
    res.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      arm();
    });
    res.on('end', () => {
      clearTimeout(timer);
      resolve(Buffer.concat(chunks).toString('utf8'));
    });
    res.on('error', (err) => {
      clearTimeout(timer);
      reject(bodyError(err));
    });
    res.on('close', () => {
      clearTimeout(timer);
      if (!res.readableEnded) reject(bodyError(Object.assign(new Error('premature close'), { code: 'ERR_STREAM_PREMATURE_CLOSE' })));
    });
  });
}

async function* lines({ res, bodyError, release }: Exchange): AsyncGenerator<string> {
  const decoder = new TextDecoder();
  let buffered = '';
  try {
    try {
      for await (const chunk of res as AsyncIterable<Buffer>) {
        buffered += decoder.decode(chunk, { stream: true });
        let newline: number;
        while ((newline = buffered.indexOf('\n')) >= 0) {
          const line = buffered.slice(0, newline).trim();
          buffered = buffered.slice(newline + 1);
          if (line) yield line;
        }
      }
    } catch (err) {
      throw bodyError(err);
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
