// YAML → Config. Validation walks the YAML node tree (not the plain object) so every problem
// can name its file, line, column and key path. All problems are collected, not just the first.

import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { LineCounter, parseDocument, isMap, isScalar, isSeq, type Node } from 'yaml';
import { ConfigError, type ConfigIssue } from '../errors.ts';
import { parseDuration } from './duration.ts';
import { checkCidr } from './cidr.ts';
import {
  BALANCERS, DEFAULTS, HEALTH_CHECK_TYPES, IP_FAMILIES, TLS_VERSIONS, UPSTREAM_PROTOCOLS,
  type BackendConfig, type BalancerName, type BalancerOptions, type Config, type HashOn, type HealthCheckType, type IpFamily, type KubernetesApi,
  type KubernetesDiscoveryConfig, type ListenAddress, type StickySessionConfig, type TlsConfig, type TlsVersion, type UpstreamProtocol, type UpstreamTlsConfig,
} from './config.ts';

export function loadConfigFile(path: string): Config {
  const file = resolve(path);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : code === 'EISDIR' ? 'is a directory' : String(code ?? err);
    throw new ConfigError([{ file, line: 0, column: 0, path: '', message: `cannot read config file (${why})` }]);
  }
  return parseConfig(text, file);
}

export function parseConfig(text: string, file: string): Config {
  const reader = new ConfigReader(text, file);
  const config = reader.read();
  if (reader.issues.length > 0) throw new ConfigError(reader.issues.sort((a, b) => a.line - b.line || a.column - b.column));
  return config;
}

/** Every key at its default, no backends: what a config file that sets nothing would mean. */
export function defaultConfig(file: string): Config {
  const d = DEFAULTS;
  return {
    file,
    listen: parseListen(d.listen) as ListenAddress,
    tls: undefined,
    admin: { listen: parseListen(d.adminListen) as ListenAddress, metrics: d.adminMetrics },
    balancer: d.balancer,
    balancerOptions: { hashOn: undefined, loadFactor: d.loadFactor },
    stickySession: undefined,
    slowStartMs: d.slowStartMs,
    topology: { zone: process.env.SLUICE_ZONE ?? '', preferSameZone: d.preferSameZone },
    healthCheck: { ...d.healthCheck },
    timeouts: { ...d.timeouts },
    retries: d.retries,
    retryBudget: { ...d.retryBudget },
    passiveHealth: { ...d.passiveHealth },
    limits: { ...d.limits },
    trustedProxies: [],
    upstream: { protocol: d.upstream.protocol, tls: { ...d.upstream.tls } },
    shutdown: { ...d.shutdown },
    accessLog: d.accessLog,
    backends: [],
    discovery: { kubernetes: undefined },
  };
}

/** Parses a listen address "[host]:port" (":8080", "127.0.0.1:0", "[::1]:9901"). */
export function parseListen(text: string): ListenAddress | string {
  const match = /^(?:\[([^\]]+)\]|([^:[\]]*)):(\d{1,5})$/.exec(text.trim());
  if (!match) return `"${text}" is not a listen address; expected "[host]:port" such as ":8080" or "127.0.0.1:8080"`;
  const port = Number(match[3]);
  if (port > 65535) return `port ${port} is out of range (0-65535)`;
  const host = match[1] ?? match[2];
  return { host: host === '' ? undefined : host, port, text };
}

class ConfigReader {
  readonly issues: ConfigIssue[] = [];
  private readonly lines = new LineCounter();
  private readonly text: string;
  private readonly file: string;

  constructor(text: string, file: string) {
    this.text = text;
    this.file = file;
  }

  read(): Config {
    const doc = parseDocument(this.text, { lineCounter: this.lines, uniqueKeys: true, prettyErrors: true });
    for (const err of doc.errors) {
      const pos = err.linePos?.[0];
      this.issues.push({ file: this.file, line: pos?.line ?? 0, column: pos?.col ?? 0, path: '', message: firstLine(err.message) });
    }
    const root = doc.contents;
    const fallback = this.defaults();
    if (this.issues.length > 0) return fallback;
    if (root == null || (isScalar(root) && root.value == null)) {
      this.issue(undefined, '', 'the file is empty; it needs at least "backends:" or "discovery:"');
      return fallback;
    }
    if (!isMap(root)) {
      this.issue(root, '', 'the top level must be a mapping of keys such as listen, backends, healthCheck');
      return fallback;
    }
    const top = this.fields(root, '', ['listen', 'tls', 'admin', 'balancer', 'stickySession', 'slowStart', 'topology', 'healthCheck', 'passiveHealth', 'timeouts', 'retries', 'retryBudget', 'limits', 'trustedProxies', 'upstream', 'shutdown', 'accessLog', 'backends', 'discovery']);
    const admin = this.fields(top.admin, 'admin', ['listen', 'metrics']);
    const hc = this.fields(top.healthCheck, 'healthCheck', ['type', 'grpcService', 'path', 'interval', 'timeout', 'healthyThreshold', 'unhealthyThreshold']);
    const to = this.fields(top.timeouts, 'timeouts', ['connect', 'response', 'clientIdle', 'clientHeader', 'idle', 'tunnelIdle', 'halfClose']);
    const ph = this.fields(top.passiveHealth, 'passiveHealth', ['consecutiveFailures', 'ejectionTime', 'maxEjectionTime', 'maxEjectionPercent']);
    const rb = this.fields(top.retryBudget, 'retryBudget', ['afterSend', 'percent', 'minConcurrent']);
    const lim = this.fields(top.limits, 'limits', ['maxConnections', 'backendMaxConnections', 'backendMaxPending', 'maxConcurrentStreams']);
    const sd = this.fields(top.shutdown, 'shutdown', ['drainTimeout', 'delay']);
    const up = this.fields(top.upstream, 'upstream', ['protocol', 'tls']);
    const topo = this.fields(top.topology, 'topology', ['zone', 'preferSameZone']);
    const d = DEFAULTS;
    const balancer = this.balancer(top.balancer);

    const config: Config = {
      file: this.file,
      listen: this.listen(top.listen, 'listen', d.listen),
      tls: this.tls(top.tls),
      admin: { listen: this.listen(admin.listen, 'admin.listen', d.adminListen), metrics: this.boolean(admin.metrics, 'admin.metrics', d.adminMetrics) },
      balancer: balancer.policy,
      balancerOptions: balancer.options,
      stickySession: this.stickySession(top.stickySession),
      slowStartMs: this.duration(top.slowStart, 'slowStart', d.slowStartMs, 0),
      topology: {
        zone: this.string(topo.zone, 'topology.zone') ?? process.env.SLUICE_ZONE ?? '',
        preferSameZone: this.boolean(topo.preferSameZone, 'topology.preferSameZone', d.preferSameZone),
      },
      healthCheck: {
        type: this.oneOf<HealthCheckType>(hc.type, 'healthCheck.type', HEALTH_CHECK_TYPES, d.healthCheck.type),
        path: this.urlPath(hc.path, 'healthCheck.path', d.healthCheck.path),
        grpcService: this.string(hc.grpcService, 'healthCheck.grpcService') ?? d.healthCheck.grpcService,
        intervalMs: this.duration(hc.interval, 'healthCheck.interval', d.healthCheck.intervalMs, 1),
        timeoutMs: this.duration(hc.timeout, 'healthCheck.timeout', d.healthCheck.timeoutMs, 1),
        healthyThreshold: this.integer(hc.healthyThreshold, 'healthCheck.healthyThreshold', d.healthCheck.healthyThreshold, 1),
        unhealthyThreshold: this.integer(hc.unhealthyThreshold, 'healthCheck.unhealthyThreshold', d.healthCheck.unhealthyThreshold, 1),
      },
      timeouts: {
        connectMs: this.duration(to.connect, 'timeouts.connect', d.timeouts.connectMs, 1),
        responseMs: this.duration(to.response, 'timeouts.response', d.timeouts.responseMs, 1),
        clientIdleMs: this.duration(to.clientIdle, 'timeouts.clientIdle', d.timeouts.clientIdleMs, 1),
        clientHeaderMs: this.duration(to.clientHeader, 'timeouts.clientHeader', d.timeouts.clientHeaderMs, 1),
        idleMs: this.duration(to.idle, 'timeouts.idle', d.timeouts.idleMs, 1),
        tunnelIdleMs: this.duration(to.tunnelIdle, 'timeouts.tunnelIdle', d.timeouts.tunnelIdleMs, 1),
        halfCloseMs: this.duration(to.halfClose, 'timeouts.halfClose', d.timeouts.halfCloseMs, 1),
      },
      retries: this.integer(top.retries, 'retries', d.retries, 0),
      retryBudget: {
        afterSend: this.integer(rb.afterSend, 'retryBudget.afterSend', d.retryBudget.afterSend, 0),
        percent: this.integer(rb.percent, 'retryBudget.percent', d.retryBudget.percent, 0, 100),
        minConcurrent: this.integer(rb.minConcurrent, 'retryBudget.minConcurrent', d.retryBudget.minConcurrent, 0),
      },
      passiveHealth: {
        consecutiveFailures: this.integer(ph.consecutiveFailures, 'passiveHealth.consecutiveFailures', d.passiveHealth.consecutiveFailures, 1),
        ejectionTimeMs: this.duration(ph.ejectionTime, 'passiveHealth.ejectionTime', d.passiveHealth.ejectionTimeMs, 1),
        maxEjectionTimeMs: this.duration(ph.maxEjectionTime, 'passiveHealth.maxEjectionTime', d.passiveHealth.maxEjectionTimeMs, 1),
        maxEjectionPercent: this.integer(ph.maxEjectionPercent, 'passiveHealth.maxEjectionPercent', d.passiveHealth.maxEjectionPercent, 0, 100),
      },
      limits: {
        maxConnections: this.maxConnections(lim.maxConnections),
        backendMaxConnections: this.integer(lim.backendMaxConnections, 'limits.backendMaxConnections', d.limits.backendMaxConnections, 1),
        backendMaxPending: this.integer(lim.backendMaxPending, 'limits.backendMaxPending', d.limits.backendMaxPending, 0),
        maxConcurrentStreams: this.integer(lim.maxConcurrentStreams, 'limits.maxConcurrentStreams', d.limits.maxConcurrentStreams, 1, 2 ** 31 - 1),
      },
      trustedProxies: this.cidrs(top.trustedProxies),
      upstream: {
        protocol: this.oneOf<UpstreamProtocol>(up.protocol, 'upstream.protocol', UPSTREAM_PROTOCOLS, d.upstream.protocol),
        tls: this.upstreamTls(up.tls),
      },
      shutdown: {
        drainTimeoutMs: this.duration(sd.drainTimeout, 'shutdown.drainTimeout', d.shutdown.drainTimeoutMs, 0),
        delayMs: this.duration(sd.delay, 'shutdown.delay', d.shutdown.delayMs, 0),
      },
      accessLog: this.boolean(top.accessLog, 'accessLog', d.accessLog),
      backends: this.backends(top.backends),
      discovery: { kubernetes: this.discovery(top.discovery) },
    };
    if (config.passiveHealth.maxEjectionTimeMs < config.passiveHealth.ejectionTimeMs) {
      this.issue(ph.maxEjectionTime, 'passiveHealth.maxEjectionTime', 'must not be shorter than passiveHealth.ejectionTime');
    }
    if (config.healthCheck.timeoutMs > config.healthCheck.intervalMs) {
      this.issue(hc.timeout, 'healthCheck.timeout', 'must not be longer than healthCheck.interval');
    }
    if (config.listen.port !== 0 && config.listen.port === config.admin.listen.port && config.listen.host === config.admin.listen.host) {
      this.issue(admin.listen, 'admin.listen', `must differ from listen (both are "${config.listen.text}")`);
    }
    this.checkBalancerCombinations(config, balancer.nodes, top.slowStart);
    if (top.backends === undefined && config.discovery.kubernetes === undefined) {
      this.issue(root, '', 'no backends: add "backends:" with at least one url, or "discovery.kubernetes"');
    }
    return config;
  }

  /** `balancer: NAME`, or the object form `balancer: {policy, hashOn, loadFactor}`. */
  private balancer(node: Node | undefined): { policy: BalancerName; options: BalancerOptions; nodes: BalancerNodes } {
    const d = DEFAULTS;
    if (node === undefined || isNull(node) || isScalar(node)) {
      const before = this.issues.length;
      const policy = this.oneOf(node, 'balancer', BALANCERS, d.balancer);
      return { policy, options: { hashOn: undefined, loadFactor: d.loadFactor }, nodes: { policy: node, valid: this.issues.length === before } };
    }
    const b = this.fields(node, 'balancer', ['policy', 'hashOn', 'loadFactor']);
    const before = this.issues.length;
    const policy = this.oneOf(b.policy, 'balancer.policy', BALANCERS, d.balancer);
    const valid = this.issues.length === before;
    let loadFactor: number = d.loadFactor;
    const rawFactor = this.scalar(b.loadFactor, 'balancer.loadFactor', 'number') as number | undefined;
    if (rawFactor !== undefined) {
      if (rawFactor !== 0 && !(rawFactor >= 1)) this.issue(b.loadFactor, 'balancer.loadFactor', 'must be 0 (unbounded) or at least 1, e.g. 1.25');
      else loadFactor = rawFactor;
    }
    const hashOn = this.hashOn(b.hashOn);
    // Combinations are judged only between values that are themselves valid: one message per mistake.
    return {
      policy,
      options: { hashOn, loadFactor },
      nodes: { policy: b.policy ?? node, valid, hashOn: hashOn === undefined ? undefined : b.hashOn, loadFactor: rawFactor === loadFactor ? b.loadFactor : undefined },
    };
  }

  private hashOn(node: Node | undefined): HashOn | undefined {
    const raw = this.string(node, 'balancer.hashOn');
    if (raw === undefined) return undefined;
    const text = raw.trim();
    if (text === 'path' || text === 'client-ip') return { source: text, text };
    const match = /^(header|cookie|query):(.+)$/.exec(text);
    if (match !== null && TOKEN.test(match[2])) {
      const source = match[1] as 'header' | 'cookie' | 'query';
      return { source, name: source === 'header' ? match[2].toLowerCase() : match[2], text };
    }
    this.issue(node, 'balancer.hashOn', `"${raw}" is not a hash key; expected header:NAME, cookie:NAME, query:NAME, path or client-ip`);
    return undefined;
  }

  private stickySession(node: Node | undefined): StickySessionConfig | undefined {
    if (node === undefined || isNull(node)) return undefined;
    const s = this.fields(node, 'stickySession', ['cookie', 'ttl']);
    const d = DEFAULTS.stickySession;
    let cookie: string = d.cookie;
    const raw = this.string(s.cookie, 'stickySession.cookie');
    if (raw !== undefined) {
      if (TOKEN.test(raw)) cookie = raw;
      else this.issue(s.cookie, 'stickySession.cookie', `"${raw}" is not a valid cookie name (letters, digits and !#$%&'*+-.^_\`|~ only)`);
    }
    return { cookie, ttlMs: this.duration(s.ttl, 'stickySession.ttl', d.ttlMs, 0) };
  }

  /** Options that mean nothing, or contradict each other, for the policy chosen: one sentence each. */
  private checkBalancerCombinations(config: Config, nodes: BalancerNodes, slowStart: Node | undefined): void {
    const { hashOn } = config.balancerOptions;
    if (!nodes.valid) return;
    const hashing = config.balancer === 'consistent-hash';
    if (!hashing && nodes.hashOn !== undefined && !isNull(nodes.hashOn)) {
      this.issue(nodes.hashOn, 'balancer.hashOn', `only the consistent-hash policy uses hashOn; set "policy: consistent-hash" or remove hashOn (policy is ${config.balancer})`);
    }
    if (!hashing && nodes.loadFactor !== undefined && !isNull(nodes.loadFactor)) {
      this.issue(nodes.loadFactor, 'balancer.loadFactor', `only the consistent-hash policy uses loadFactor; set "policy: consistent-hash" or remove loadFactor (policy is ${config.balancer})`);
    }
    if (hashing && hashOn === undefined && !this.issues.some((i) => i.path === 'balancer.hashOn')) {
      this.issue(nodes.policy, 'balancer.hashOn', 'consistent-hash needs hashOn, the request part to hash: header:NAME, cookie:NAME, query:NAME, path or client-ip');
    }
    if (hashing && config.slowStartMs > 0) {
      this.issue(slowStart, 'slowStart', 'consistent-hash does not ramp weights (that would move keys between backends while the ramp runs); remove slowStart or choose another policy');
    }
    if (hashOn?.source === 'cookie' && config.stickySession !== undefined && hashOn.name === config.stickySession.cookie) {
      this.issue(nodes.hashOn, 'balancer.hashOn', `hashes on the cookie "${hashOn.name}" that stickySession sets itself; use another cookie`);
    }
  }

  private defaults(): Config {
    return defaultConfig(this.file);
  }

  private issue(node: Node | undefined, path: string, message: string): void {
    const offset = node?.range?.[0];
    const pos = offset === undefined ? { line: 0, col: 0 } : this.lines.linePos(offset);
    this.issues.push({ file: this.file, line: pos.line, column: pos.col, path, message });
  }

  /** Reads a mapping's values by key, reporting unknown keys. Absent or null map: all undefined. */
  private fields<K extends string>(node: Node | undefined, path: string, keys: readonly K[]): Record<K, Node | undefined> {
    const out = {} as Record<K, Node | undefined>;
    if (node === undefined || isNull(node)) return out;
    if (!isMap(node)) {
      this.issue(node, path, `must be a mapping with keys ${keys.join(', ')}`);
      return out;
    }
    for (const pair of node.items) {
      const keyNode = pair.key as Node;
      const key = isScalar(keyNode) ? String(keyNode.value) : '';
      const at = path ? `${path}.${key}` : key;
      if (!(keys as readonly string[]).includes(key)) {
        const hint = closestKey(key, keys);
        this.issue(keyNode, at, hint ? `unknown key (did you mean "${hint}"?)` : `unknown key; expected one of ${keys.join(', ')}`);
        continue;
      }
      out[key as K] = (pair.value ?? undefined) as Node | undefined;
    }
    return out;
  }

  private scalar(node: Node | undefined, path: string, type: 'string' | 'number' | 'boolean'): unknown {
    if (node === undefined || isNull(node)) return undefined;
    if (!isScalar(node) || typeof node.value !== type) {
      this.issue(node, path, `must be a ${type}`);
      return undefined;
    }
    return node.value;
  }

  private string(node: Node | undefined, path: string): string | undefined {
    return this.scalar(node, path, 'string') as string | undefined;
  }

  private listen(node: Node | undefined, path: string, fallback: string): ListenAddress {
    const fallbackAddress = parseListen(fallback) as ListenAddress;
    // A bare port number is a common way to write ":8080".
    const raw = isScalar(node) && typeof node.value === 'number' ? `:${node.value}` : this.string(node, path);
    if (raw === undefined) return fallbackAddress;
    const parsed = parseListen(raw);
    if (typeof parsed === 'string') {
      this.issue(node, path, parsed);
      return fallbackAddress;
    }
    return parsed;
  }

  private oneOf<T extends string>(node: Node | undefined, path: string, options: readonly T[], fallback: T): T {
    const raw = this.string(node, path);
    if (raw === undefined) return fallback;
    if (!(options as readonly string[]).includes(raw)) {
      this.issue(node, path, `"${raw}" is not one of ${options.join(', ')}`);
      return fallback;
    }
    return raw as T;
  }

  private urlPath(node: Node | undefined, path: string, fallback: string): string {
    const raw = this.string(node, path);
    if (raw === undefined) return fallback;
    if (!raw.startsWith('/') || /\s/.test(raw)) {
      this.issue(node, path, `"${raw}" must be a path starting with "/"`);
      return fallback;
    }
    return raw;
  }

  private duration(node: Node | undefined, path: string, fallback: number, minMs: number): number {
    if (isScalar(node) && typeof node.value === 'number') {
      this.issue(node, path, `${node.value} has no unit; write e.g. "${node.value}s" or "${node.value}ms"`);
      return fallback;
    }
    const raw = this.string(node, path);
    if (raw === undefined) return fallback;
    const ms = parseDuration(raw);
    if (typeof ms === 'string') {
      this.issue(node, path, ms);
      return fallback;
    }
    if (ms < minMs) {
      this.issue(node, path, minMs === 1 ? 'must be longer than zero' : `must be at least ${minMs}ms`);
      return fallback;
    }
    return ms;
  }

  private integer(node: Node | undefined, path: string, fallback: number, min: number, max = Infinity): number {
    const raw = this.scalar(node, path, 'number') as number | undefined;
    if (raw === undefined) return fallback;
    if (!Number.isInteger(raw) || raw < min || raw > max) {
      this.issue(node, path, max === Infinity ? `must be a whole number of at least ${min}` : `must be a whole number from ${min} to ${max}`);
      return fallback;
    }
    return raw;
  }

  /** A number, or "auto" (the default): sized from the process's descriptor limit at start. */
  private maxConnections(node: Node | undefined): number | undefined {
    if (node === undefined || isNull(node) || (isScalar(node) && node.value === 'auto')) return undefined;
    const value = isScalar(node) ? node.value : undefined;
    if (typeof value !== 'number' || !Number.isInteger(value) || value < 1) {
      this.issue(node, 'limits.maxConnections', 'must be a whole number of at least 1, or "auto"');
      return undefined;
    }
    return value;
  }

  /** tls: absent or null for cleartext; with it, cert and key are required and must be readable. */
  private tls(node: Node | undefined): TlsConfig | undefined {
    if (node === undefined || isNull(node)) return undefined;
    const t = this.fields(node, 'tls', ['cert', 'key', 'minVersion', 'clientCA']);
    const file = (key: 'cert' | 'key' | 'clientCA', required: boolean): string => {
      const raw = this.string(t[key], `tls.${key}`);
      if (raw === undefined || raw === '') {
        if (required) this.issue(t[key] ?? node, `tls.${key}`, 'is required');
        return '';
      }
      const path = resolve(this.file === '' ? '.' : dirname(this.file), raw);
      const problem = unreadable(path);
      if (problem !== undefined) this.issue(t[key], `tls.${key}`, `cannot read "${path}" (${problem})`);
      return path;
    };
    return {
      cert: file('cert', true),
      key: file('key', true),
      minVersion: this.oneOf<TlsVersion>(t.minVersion, 'tls.minVersion', TLS_VERSIONS, DEFAULTS.tls.minVersion),
      clientCA: file('clientCA', false) || DEFAULTS.tls.clientCA,
    };
  }

  private upstreamTls(node: Node | undefined): UpstreamTlsConfig {
    const t = this.fields(node, 'upstream.tls', ['ca', 'serverName', 'cert', 'key', 'insecureSkipVerify']);
    const file = (key: 'ca' | 'cert' | 'key'): string => {
      const raw = this.string(t[key], `upstream.tls.${key}`);
      if (raw === undefined || raw === '') return '';
      const path = resolve(this.file === '' ? '.' : dirname(this.file), raw);
      const problem = unreadable(path);
      if (problem !== undefined) this.issue(t[key], `upstream.tls.${key}`, `cannot read "${path}" (${problem})`);
      return path;
    };
    const out: UpstreamTlsConfig = {
      ca: file('ca'),
      serverName: this.string(t.serverName, 'upstream.tls.serverName') ?? '',
      cert: file('cert'),
      key: file('key'),
      insecureSkipVerify: this.boolean(t.insecureSkipVerify, 'upstream.tls.insecureSkipVerify', false),
    };
    if ((out.cert === '') !== (out.key === '')) this.issue(t.cert ?? t.key, out.cert === '' ? 'upstream.tls.cert' : 'upstream.tls.key', 'a client certificate needs both cert and key');
    return out;
  }

  private cidrs(node: Node | undefined): string[] {
    if (node === undefined || isNull(node)) return [];
    if (!isSeq(node)) {
      this.issue(node, 'trustedProxies', 'must be a list of CIDRs such as "10.0.0.0/8"');
      return [];
    }
    const out: string[] = [];
    node.items.forEach((item, i) => {
      const raw = this.string(item as Node, `trustedProxies[${i}]`);
      if (raw === undefined) return;
      const problem = checkCidr(raw);
      if (problem) this.issue(item as Node, `trustedProxies[${i}]`, problem);
      else out.push(raw);
    });
    return out;
  }

  private boolean(node: Node | undefined, path: string, fallback: boolean): boolean {
    const raw = this.scalar(node, path, 'boolean') as boolean | undefined;
    return raw ?? fallback;
  }

  private backends(node: Node | undefined): BackendConfig[] {
    if (node === undefined || isNull(node)) return [];
    if (!isSeq(node)) {
      this.issue(node, 'backends', 'must be a list of entries such as "- url: http://10.0.0.1:8080"');
      return [];
    }
    const seen = new Map<string, number>();
    const out: BackendConfig[] = [];
    node.items.forEach((item, i) => {
      const path = `backends[${i}]`;
      const itemNode = item as Node;
      // "- http://host:port" is accepted as shorthand for "- url: http://host:port".
      const fields = isScalar(itemNode) ? { url: itemNode, weight: undefined, protocol: undefined } : this.fields(itemNode, path, ['url', 'weight', 'protocol']);
      const urlNode = fields.url;
      const raw = this.string(urlNode, `${path}.url`);
      if (raw === undefined) {
        if (urlNode === undefined || isNull(urlNode)) this.issue(itemNode, `${path}.url`, 'is required');
        return;
      }
      const url = normaliseBackendUrl(raw);
      const weight = this.integer(fields.weight, `${path}.weight`, DEFAULTS.weight, 1);
      if (url.startsWith('!')) {
        this.issue(urlNode, `${path}.url`, url.slice(1));
        return;
      }
      const previous = seen.get(url);
      if (previous !== undefined) {
        this.issue(urlNode, `${path}.url`, `duplicate backend ${url} (also backends[${previous}])`);
        return;
      }
      seen.set(url, i);
      const protocol = fields.protocol === undefined ? undefined : this.oneOf<UpstreamProtocol>(fields.protocol, `${path}.protocol`, UPSTREAM_PROTOCOLS, DEFAULTS.upstream.protocol);
      // h2 is negotiated in the TLS handshake; h2c is cleartext by definition.
      if (protocol === 'h2' && url.startsWith('http:')) this.issue(fields.protocol, `${path}.protocol`, 'h2 needs an https:// backend; use h2c for HTTP/2 in cleartext');
      if (protocol === 'h2c' && url.startsWith('https:')) this.issue(fields.protocol, `${path}.protocol`, 'h2c is cleartext; use h2 for an https:// backend');
      out.push(protocol === undefined ? { url, weight } : { url, weight, protocol });
    });
    return out;
  }

  private discovery(node: Node | undefined): KubernetesDiscoveryConfig | undefined {
    const discovery = this.fields(node, 'discovery', ['kubernetes']);
    const kNode = discovery.kubernetes;
    if (kNode === undefined || isNull(kNode)) return undefined;
    const k = this.fields(kNode, 'discovery.kubernetes', ['service', 'namespace', 'port', 'api', 'ipFamily', 'watchdog']);
    const service = this.string(k.service, 'discovery.kubernetes.service');
    if (service === undefined) this.issue(kNode, 'discovery.kubernetes.service', 'is required');
    else if (!DNS_LABEL.test(service)) this.issue(k.service, 'discovery.kubernetes.service', `"${service}" is not a valid Service name`);
    const namespace = this.string(k.namespace, 'discovery.kubernetes.namespace');
    if (namespace !== undefined && !DNS_LABEL.test(namespace)) this.issue(k.namespace, 'discovery.kubernetes.namespace', `"${namespace}" is not a valid namespace name`);
    let port: string | number | undefined;
    if (isScalar(k.port) && typeof k.port.value === 'number') {
      port = this.integer(k.port, 'discovery.kubernetes.port', 0, 1);
      if (port > 65535) this.issue(k.port, 'discovery.kubernetes.port', 'must be at most 65535');
    } else {
      port = this.string(k.port, 'discovery.kubernetes.port');
    }
    return {
      service: service ?? '',
      namespace,
      port,
      api: this.oneOf<KubernetesApi>(k.api, 'discovery.kubernetes.api', ['endpointslices', 'endpoints'], DEFAULTS.kubernetes.api),
      ipFamily: this.oneOf<IpFamily>(k.ipFamily, 'discovery.kubernetes.ipFamily', IP_FAMILIES, DEFAULTS.kubernetes.ipFamily),
      watchdogMs: this.duration(k.watchdog, 'discovery.kubernetes.watchdog', DEFAULTS.kubernetes.watchdogMs, 1000),
    };
  }
}

/** The balancer's value nodes, for messages about combinations. */
interface BalancerNodes {
  policy: Node | undefined;
  /** The policy itself is valid (else its combinations are not judged). */
  valid: boolean;
  hashOn?: Node | undefined;
  loadFactor?: Node | undefined;
}

/** An HTTP token (RFC 9110 §5.6.2): valid as a header, cookie or query parameter name here. */
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

function isNull(node: Node): boolean {
  return isScalar(node) && node.value === null;
}

/** The known key a misspelt one most likely meant, if any is close enough. */
function closestKey(written: string, keys: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const key of keys) {
    const distance = editDistance(written.toLowerCase(), key.toLowerCase());
    if (distance <= (key.length >= 6 ? 3 : 2) && distance < bestDistance) {
      best = key;
      bestDistance = distance;
    }
  }
  return best;
}

/** Levenshtein distance, for "did you mean" hints on misspelt keys. */
function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) row[j] = Math.min(prev[j] + 1, row[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = row;
  }
  return prev[b.length];
}

function unreadable(path: string): string | undefined {
  try {
    readFileSync(path);
    return undefined;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : code === 'EISDIR' ? 'is a directory' : String(code ?? err);
  }
}

function firstLine(message: string): string {
  return message.split('\n')[0].replace(/ at line \d+, column \d+:?$/, '');
}

/** Normalised origin ("http://host:port"), or "!reason" when the URL is unusable as a backend. */
export function normaliseBackendUrl(raw: string): string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return `!"${raw}" is not a URL; expected e.g. "http://10.0.0.1:8080"`;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return `!"${raw}" must use http:// or https://`;
  if (url.username || url.password) return `!"${raw}" must not contain credentials`;
  if ((url.pathname !== '/' && url.pathname !== '') || url.search || url.hash) return `!"${raw}" must be an origin without a path, query or fragment`;
  if (url.hostname === '') return `!"${raw}" has no host`;
  const port = url.port || (url.protocol === 'https:' ? '443' : '80');
  return `${url.protocol}//${url.hostname}:${port}`;
}
