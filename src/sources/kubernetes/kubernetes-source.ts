// discovery.kubernetes: a Service's EndpointSlices (or Endpoints) → the pool's "kubernetes"
// desired set, kept current by a reflector (list + watch + watchdog).
//
// Startup: start() resolves once the first list has reached the pool and a watch is open. A
// hopeless error (forbidden, bad credentials, unknown API, untrusted certificate) fails at once;
// anything else (unreachable, 5xx) is retried for STARTUP_TIMEOUT_MS, then fails. Both exit 1
// with one sentence. A port that cannot be matched fails with exit 2 (it is a config mistake).
// After the first sync nothing stops serving: errors are logged and shown in /status, the last
// desired set stays in the pool, and the reflector retries with backoff.

import type { Logger } from 'pino';
import type { DiscoveryStatus } from '../../admin/status.ts';
import type { KubernetesDiscoveryConfig } from '../../config/config.ts';
import { SluiceError } from '../../errors.ts';
import type { DesiredBackend } from '../../pool/backend.ts';
import type { Pool } from '../../pool/pool.ts';
import type { DiscoveryOptions, DiscoverySource } from '../discovery.ts';
import { describeFailure, type RequestSubject } from './api-errors.ts';
import type { MappedEndpoints, ServiceRef } from './endpoint-groups.ts';
import { endpointSlicesToBackends, SERVICE_NAME_LABEL } from './endpoint-slices.ts';
import { endpointsToBackends } from './endpoints.ts';
import { KubeClient } from './kube-client.ts';
import type { EndpointSlice, Endpoints, KubeObject } from './kube-types.ts';
import { Reflector, type ReflectorTarget } from './reflector.ts';

export const SOURCE_NAME = 'kubernetes';
/** How long startup keeps retrying an API server that does not answer. */
export const STARTUP_TIMEOUT_MS = 30_000;
/** Watch events often come in bursts (a rollout touches many slices): hand the pool one set. */
const DEBOUNCE_MS = 10;

export interface KubernetesSourceOptions extends DiscoveryOptions {
  env?: NodeJS.ProcessEnv;
  startupTimeoutMs?: number;
}

export class KubernetesSource implements DiscoverySource {
  synced = false;
  private readonly config: KubernetesDiscoveryConfig;
  private readonly pool: Pool;
  private readonly log: Logger;
  private readonly options: KubernetesSourceOptions;
  private client: KubeClient | undefined;
  private reflector: Reflector<KubeObject> | undefined;
  private ref: ServiceRef;
  private latest: ReadonlyMap<string, KubeObject> = new Map();
  private debounce: NodeJS.Timeout | undefined;
  private lastSyncAt: number | undefined;
  private lastError: { at: number; message: string } | undefined;
  private problem: string | undefined;
  private endpoints = 0;
  private terminating = 0;
  private lastSetKey = '';
  private failing = false;
  private startup: { resolve: () => void; reject: (err: Error) => void } | undefined;

  constructor(config: KubernetesDiscoveryConfig, pool: Pool, log: Logger, options: KubernetesSourceOptions = {}) {
    this.config = config;
    this.pool = pool;
    this.log = log;
    this.options = options;
    this.ref = { namespace: config.namespace ?? 'default', service: config.service };
  }

  async start(): Promise<void> {
    const client = KubeClient.load(this.options, this.options.env, `sluice (${process.platform}; node ${process.version})`);
    this.client = client;
    this.ref = { namespace: this.config.namespace ?? client.info.defaultNamespace, service: this.config.service };
    const { namespace, service } = this.ref;
    const target: ReflectorTarget = this.config.api === 'endpointslices'
      ? { path: `/apis/discovery.k8s.io/v1/namespaces/${namespace}/endpointslices`, query: { labelSelector: `${SERVICE_NAME_LABEL}=${service}` } }
      : { path: `/api/v1/namespaces/${namespace}/endpoints`, query: { fieldSelector: `metadata.name=${service}` } };
    this.log.info({ api: this.config.api, namespace, service, port: this.config.port ?? null, server: client.info.server, credentials: client.info.credentials }, 'kubernetes discovery starting');

    const started = new Promise<void>((resolve, reject) => { this.startup = { resolve, reject }; });
    const reflector = new Reflector<KubeObject>(client, target, {
      changed: (objects) => this.onChanged(objects),
      failed: (err, verb) => this.onFailed(err, verb),
      watching: () => this.onWatching(),
    }, this.log, { watchdogMs: this.config.watchdogMs });
    this.reflector = reflector;
    reflector.start();

    const timeoutMs = this.options.startupTimeoutMs ?? STARTUP_TIMEOUT_MS;
    const timer = setTimeout(() => {
      const why = this.lastError?.message ?? `no answer from the Kubernetes API server at ${client.info.server}`;
      this.failStartup(new SluiceError('SLUICE_KUBERNETES_UNAVAILABLE', `${why}; gave up after ${Math.round(timeoutMs / 1000)}s`, 1));
    }, timeoutMs);
    try {
      await started;
    } catch (err) {
      await this.stop();
      throw err;
    } finally {
      clearTimeout(timer);
    }
  }

  status(): DiscoveryStatus {
    const iso = (t: number | undefined): string | null => (t === undefined ? null : new Date(t).toISOString());
    return {
      kind: 'kubernetes',
      api: this.config.api,
      namespace: this.ref.namespace,
      service: this.ref.service,
      port: this.config.port ?? null,
      server: this.client?.info.server ?? null,
      synced: this.synced,
      lastSyncAt: iso(this.lastSyncAt),
      lastEventAt: iso(this.reflector?.lastEventAt),
      lastError: this.lastError ? { at: iso(this.lastError.at), message: this.lastError.message } : null,
      problem: this.problem ?? null,
      watchRestarts: this.reflector?.watchRestarts ?? 0,
      relists: this.reflector?.relists ?? 0,
      resourceVersion: this.reflector?.resourceVersion || null,
      endpoints: this.endpoints,
      terminating: this.terminating,
    };
  }

  async stop(): Promise<void> {
    clearTimeout(this.debounce);
    this.debounce = undefined;
    await this.reflector?.stop();
    await this.client?.close();
  }

  private onChanged(objects: ReadonlyMap<string, KubeObject>): void {
    this.latest = objects;
    if (!this.synced) {
      // The first list goes to the pool at once, so start() can report a bad port.
      this.flush();
      return;
    }
    this.debounce ??= setTimeout(() => {
      this.debounce = undefined;
      this.flush();
    }, DEBOUNCE_MS);
  }

  private flush(): void {
    const mapped = this.map();
    if (mapped.problem) {
      if (!this.synced) {
        this.failStartup(new SluiceError('SLUICE_KUBERNETES_PORT', mapped.problem, 2));
        return;
      }
      // A Service edited into a shape the config does not fit: keep serving what we had.
      if (mapped.problem !== this.problem) {
        this.log.error({ problem: mapped.problem, keeping: this.endpoints }, 'cannot map the service endpoints; keeping the last backends');
        this.lastError = { at: Date.now(), message: mapped.problem };
      }
      this.problem = mapped.problem;
      return;
    }
    if (this.problem) this.log.info('service endpoints map again');
    this.problem = undefined;
    this.apply(mapped.backends);
  }

  private map(): MappedEndpoints {
    if (this.config.api === 'endpointslices') {
      return endpointSlicesToBackends(this.latest.values() as Iterable<EndpointSlice>, this.config.port, this.ref);
    }
    return endpointsToBackends(this.latest.get(this.ref.service) as Endpoints | undefined, this.config.port, this.ref);
  }

  private apply(backends: DesiredBackend[]): void {
    this.lastSyncAt = Date.now();
    const key = JSON.stringify(backends);
    const first = !this.synced;
    this.synced = true;
    if (key === this.lastSetKey && !first) return;
    this.lastSetKey = key;
    this.pool.reconcile(SOURCE_NAME, backends);
    this.endpoints = backends.length;
    this.terminating = backends.filter((b) => b.terminating).length;
    const fields = { endpoints: this.endpoints, terminating: this.terminating };
    if (first) {
      this.log.info(fields, 'kubernetes discovery synced');
      if (backends.length === 0) this.log.warn({ namespace: this.ref.namespace, service: this.ref.service }, 'the service has no endpoints (yet)');
    } else {
      this.log.debug(fields, 'kubernetes endpoints changed');
    }
  }

  private onFailed(err: unknown, verb: 'list' | 'watch'): void {
    const subject: RequestSubject = {
      verb,
      resource: this.config.api,
      group: this.config.api === 'endpointslices' ? 'discovery.k8s.io' : '',
      namespace: this.ref.namespace,
      server: this.client?.info.server ?? '',
      credentials: this.client?.info.credentials ?? '',
    };
    const failure = describeFailure(err, subject);
    this.lastError = { at: Date.now(), message: failure.message };
    this.failing = true;
    if (this.startup && failure.hopeless) {
      this.failStartup(new SluiceError('SLUICE_KUBERNETES_API', failure.message, 1));
      return;
    }
    const level = this.synced ? 'warn' : 'info';
    this.log[level]({ error: failure.message, verb, serving: this.endpoints }, this.synced ? 'kubernetes API request failed; keeping the last backends and retrying' : 'kubernetes API request failed; retrying');
  }

  private onWatching(): void {
    if (this.failing) {
      this.failing = false;
      if (this.synced) this.log.info({ endpoints: this.endpoints }, 'kubernetes watch resumed');
    }
    if (this.startup && this.synced) {
      this.startup.resolve();
      this.startup = undefined;
    }
  }

  private failStartup(err: Error): void {
    const startup = this.startup;
    this.startup = undefined;
    this.synced = false;
    startup?.reject(err);
  }
}
