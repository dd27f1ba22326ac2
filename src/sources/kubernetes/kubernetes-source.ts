// discovery.kubernetes: a Service's EndpointSlices (or Endpoints) → the pool's "kubernetes"
// desired set, kept current by a reflector (list + watch + watchdog).
//
// Startup: start() resolves once the first list has reached the pool and a watch is open. A
// hopeless error (forbidden, bad credentials, unknown API, untrusted certificate) fails at once;
// anything else (unreachable, 5xx) is retried for STARTUP_TIMEOUT_MS, then fails. Both exit 1
// with one sentence. A port that cannot be matched fails with exit 2 (it is a config mistake).
// After the first sync nothing stops serving: errors are logged and shown in /status, the last
// desired set stays in the pool, and the reflector retries with backoff.
//
// /status `problem` is one sentence whenever discovery is not healthy, null only when it is:
// the API server failing or silent (frozen), the port not matching, or nothing to follow
// (namespace or Service missing, as far as the Role lets us check).

import type { Logger } from 'pino';
import type { DiscoveryStatus } from '../../admin/status.ts';
import type { KubernetesDiscoveryConfig } from '../../config/config.ts';
import { SluiceError } from '../../errors.ts';
import type { DesiredBackend } from '../../pool/backend.ts';
import type { Pool } from '../../pool/pool.ts';
import type { DiscoveryOptions, DiscoverySource } from '../discovery.ts';
import { describeFailure, type RequestSubject } from './api-errors.ts';
import { SKIP_REASONS, type MappedEndpoints, type ServiceRef, type SkipReason } from './endpoint-groups.ts';
import { endpointSlicesToBackends, SERVICE_NAME_LABEL } from './endpoint-slices.ts';
import { endpointsToBackends } from './endpoints.ts';
import { KubeApiError, KubeClient } from './kube-client.ts';
import type { EndpointSlice, Endpoints, KubeObject } from './kube-types.ts';
import { Reflector, type ReflectorTarget } from './reflector.ts';

export const SOURCE_NAME = 'kubernetes';
/** How long startup keeps retrying an API server that does not answer. */
export const STARTUP_TIMEOUT_MS = 30_000;
/** Watch events often come in bursts (a rollout touches many slices): hand the pool one set. */
const DEBOUNCE_MS = 10;
/** With nothing to follow, ask again why at most this often (the Service or namespace may appear). */
const ABSENCE_RECHECK_MS = 10_000;
const ABSENCE_REQUEST_TIMEOUT_MS = 10_000;

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
  /** The port (or the Service's ports) cannot be matched. */
  private problem: string | undefined;
  /** The API server failed the last request, or went silent; cleared when a watch opens. */
  private apiProblem: string | undefined;
  /** Why there is nothing to follow (namespace or Service missing); undefined while unknown or fine. */
  private absence: string | undefined;
  private absenceCheck: { running: boolean; at: number } = { running: false, at: 0 };
  /** Aborts side requests (the absence check) on stop(). */
  private readonly stopping = new AbortController();
  /** Skipped slices by name, with the reason last logged: each is logged once, not per event. */
  private skipped = new Map<string, SkipReason>();
  private family: 'IPv4' | 'IPv6' | undefined;
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
      stalled: (silentMs) => this.onStalled(silentMs),
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
    const contact = this.reflector?.lastContactAt;
    const skippedSlices = Object.fromEntries(SKIP_REASONS.map((r) => [r, 0])) as Record<SkipReason, number>;
    for (const reason of this.skipped.values()) skippedSlices[reason]++;
    return {
      kind: 'kubernetes',
      api: this.config.api,
      namespace: this.ref.namespace,
      service: this.ref.service,
      port: this.config.port ?? null,
      ipFamily: this.config.ipFamily,
      addressFamily: this.family ?? null,
      server: this.client?.info.server ?? null,
      synced: this.synced,
      lastSyncAt: iso(this.lastSyncAt),
      lastEventAt: iso(this.reflector?.lastEventAt),
      lastError: this.lastError ? { at: iso(this.lastError.at), message: this.lastError.message } : null,
      problem: this.apiProblem ?? this.problem ?? this.absence ?? null,
      // How long ago the API server last showed us our data is current (list, watch, event, bookmark).
      dataAgeSeconds: contact === undefined ? null : Math.round((Date.now() - contact) / 100) / 10,
      watchRestarts: this.reflector?.watchRestarts ?? 0,
      relists: this.reflector?.relists ?? 0,
      resourceVersion: this.reflector?.resourceVersion || null,
      endpoints: this.endpoints,
      terminating: this.terminating,
      skippedSlices,
    };
  }

  async stop(): Promise<void> {
    this.stopping.abort();
    clearTimeout(this.debounce);
    this.debounce = undefined;
    await this.reflector?.stop();
    await this.client?.close();
  }

  private onChanged(objects: ReadonlyMap<string, KubeObject>): void {
    this.latest = objects;
    if (objects.size > 0) this.setAbsence(undefined);
    else this.checkAbsence(true);
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
    this.noteSkipped(mapped);
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
      return endpointSlicesToBackends(this.latest.values() as Iterable<EndpointSlice>, this.config.port, this.ref, this.config.ipFamily);
    }
    return endpointsToBackends(this.latest.get(this.ref.service) as Endpoints | undefined, this.config.port, this.ref, this.config.ipFamily);
  }

  /** Counts skipped slices and logs each one once (again only after it was used or gone). */
  private noteSkipped(mapped: MappedEndpoints): void {
    // A port problem maps nothing: keep the last counts rather than forget (and relog) them.
    if (mapped.problem) return;
    const now = new Map<string, SkipReason>();
    for (const skip of mapped.skipped) {
      now.set(skip.slice, skip.reason);
      if (this.skipped.get(skip.slice) === skip.reason) continue;
      const fields = { slice: skip.slice, reason: skip.reason, addressType: skip.addressType, ipFamily: this.config.ipFamily, family: mapped.family ?? null };
      if (skip.reason === 'otherFamily') this.log.info(fields, 'skipping an EndpointSlice of the address family not in use');
      else if (skip.reason === 'FQDN') this.log.warn(fields, 'skipping an FQDN EndpointSlice; sluice uses IP addresses only');
      else this.log.warn({ ...fields, port: this.config.port ?? null }, 'skipping an EndpointSlice without the configured port');
    }
    this.skipped = now;
    if (this.config.api === 'endpointslices') this.family = mapped.family;
    else if (mapped.backends.length > 0) this.family = mapped.backends[0].url.includes('[') ? 'IPv6' : 'IPv4';
  }

  /** With no slices (or no Endpoints object), find out why, as far as the Role allows. */
  private checkAbsence(force: boolean): void {
    const check = this.absenceCheck;
    if (check.running || !this.client || this.stopping.signal.aborted || (!force && Date.now() - check.at < ABSENCE_RECHECK_MS)) return;
    check.running = true;
    check.at = Date.now();
    this.whyNothing().then((sentence) => {
      // undefined: could not tell (the API server did not answer); keep what we said before.
      if (sentence !== undefined && this.latest.size === 0) this.setAbsence(sentence ?? undefined);
    }, (err: unknown) => {
      this.log.debug({ error: String(err) }, 'checking for the service failed');
    }).finally(() => { check.running = false; });
  }

  /** A sentence, null when the Service exists (it simply has no endpoints), undefined when unknown. */
  private async whyNothing(): Promise<string | null | undefined> {
    const { namespace, service } = this.ref;
    const namespaceStatus = await this.statusOf(`/api/v1/namespaces/${namespace}`);
    if (namespaceStatus === 404) return `namespace ${namespace} does not exist`;
    const serviceStatus = await this.statusOf(`/api/v1/namespaces/${namespace}/services/${service}`);
    if (serviceStatus === 404) {
      return namespaceStatus === 200
        ? `service ${service} does not exist in namespace ${namespace}`
        : `service ${service} not found in namespace ${namespace} (or the namespace does not exist)`;
    }
    if (serviceStatus === 200) return null;
    if (serviceStatus === 401 || serviceStatus === 403) {
      // The minimal Role cannot read Services: say what we know.
      return `no ${this.config.api === 'endpointslices' ? 'EndpointSlices' : 'Endpoints'} for service ${service} in namespace ${namespace}`;
    }
    return undefined;
  }

  /** The HTTP status of a GET, or undefined when there was no answer. */
  private async statusOf(path: string): Promise<number | undefined> {
    try {
      await this.client!.getJson<unknown>(path, {}, AbortSignal.any([this.stopping.signal, AbortSignal.timeout(ABSENCE_REQUEST_TIMEOUT_MS)]));
      return 200;
    } catch (err) {
      return err instanceof KubeApiError ? err.status : undefined;
    }
  }

  private setAbsence(sentence: string | undefined): void {
    if (sentence === this.absence) return;
    if (sentence) this.log.warn({ problem: sentence }, 'nothing to follow');
    else if (this.absence) this.log.info({ was: this.absence }, 'the service is there again');
    this.absence = sentence;
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
    this.apiProblem = failure.message;
    this.failing = true;
    if (this.startup && failure.hopeless) {
      this.failStartup(new SluiceError('SLUICE_KUBERNETES_API', failure.message, 1));
      return;
    }
    const level = this.synced ? 'warn' : 'info';
    this.log[level]({ error: failure.message, verb, serving: this.endpoints }, this.synced ? 'kubernetes API request failed; keeping the last backends and retrying' : 'kubernetes API request failed; retrying');
  }

  private onStalled(silentMs: number): void {
    const message = `the Kubernetes API server at ${this.client?.info.server ?? ''} sent nothing for ${Math.round(silentMs / 1000)}s, not even a bookmark (frozen, or the connection is dead); listing again, keeping the last ${this.endpoints} backends`;
    this.lastError = { at: Date.now(), message };
    this.apiProblem = message;
    this.failing = true;
  }

  private onWatching(): void {
    this.apiProblem = undefined;
    if (this.latest.size === 0) this.checkAbsence(false);
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
