// The part EndpointSlices and Endpoints share: groups of endpoints that listen on the same set of
// ports. Picks the configured port in each group, de-duplicates address:port (ready beats
// terminating, as in kube-proxy's EndpointSlice cache) and builds the desired backend set.
//
// Port semantics, because EndpointSlices and Endpoints only carry the Service port's *name* and
// the *target* (pod) port's number, and reading the Service would need more RBAC:
//   - a name ("http") matches the endpoint port of that name;
//   - a number (8080) matches the endpoint port with that number, i.e. the target port;
//   - no port: the Service must have exactly one (TCP) port, named or not.

import type { UpstreamProtocol } from '../../config/config.ts';
import type { BackendMeta, DesiredBackend } from '../../pool/backend.ts';
import type { EndpointPort } from './kube-types.ts';

/** ready: takes traffic. terminating: serving but going away (a fallback). unready: not used. */
export type EndpointState = 'ready' | 'terminating' | 'unready';

export interface GroupEndpoint {
  /** An IP address (v4 or v6) or, for FQDN slices, a host name. */
  address: string;
  state: EndpointState;
  meta: BackendMeta;
}

export interface EndpointGroup {
  /** The EndpointSlice it came from (none for Endpoints subsets), to report it when skipped. */
  slice?: string;
  ports: EndpointPort[];
  endpoints: GroupEndpoint[];
}

export interface ServiceRef {
  namespace: string;
  service: string;
}

export interface MappedEndpoints {
  backends: DesiredBackend[];
  /**
   * Set when the configured port cannot be matched although the Service has endpoints: a
   * configuration mistake the user must fix (the backends are then empty).
   */
  problem: string | undefined;
  /** Slices not used, each with why; /status counts them and the source logs each once. */
  skipped: SkippedSlice[];
  /** The address family in use (EndpointSlices only; undefined without slices). */
  family?: 'IPv4' | 'IPv6';
}

/** FQDN: never used (as kube-proxy). otherFamily: the family not in use. unmatchedPorts: lacks the configured port. */
export type SkipReason = 'FQDN' | 'otherFamily' | 'unmatchedPorts';
export const SKIP_REASONS: readonly SkipReason[] = ['FQDN', 'otherFamily', 'unmatchedPorts'];

export interface SkippedSlice {
  slice: string;
  reason: SkipReason;
  addressType: string;
}

const WEIGHT = 1;

export function groupsToBackends(groups: readonly EndpointGroup[], wanted: string | number | undefined, ref: ServiceRef): MappedEndpoints {
  const withEndpoints = groups.filter((g) => g.endpoints.length > 0);
  const wantedPort = normaliseWanted(wanted);
  let byName: string | undefined;
  if (wantedPort === undefined) {
    const names = new Set(withEndpoints.flatMap((g) => tcpPorts(g.ports).map((p) => p.name ?? '')));
    if (names.size > 1) {
      const list = [...names].map((n) => (n === '' ? '(unnamed)' : n)).join(', ');
      return { backends: [], skipped: [], problem: `service ${ref.namespace}/${ref.service} has several ports (${list}); set discovery.kubernetes.port to one of them` };
    }
    byName = [...names][0];
  }

  const chosen = new Map<string, { desired: DesiredBackend; ready: boolean }>();
  let matchedAny = false;
  const unmatched: string[] = [];
  for (const group of withEndpoints) {
    const port = tcpPorts(group.ports).find((p) =>
      typeof wantedPort === 'number' ? p.port === wantedPort : (p.name ?? '') === (wantedPort ?? byName));
    if (!port) {
      if (group.slice) unmatched.push(group.slice);
      continue;
    }
    matchedAny = true;
    const { scheme, protocol } = portProtocolOf(port.appProtocol);
    for (const endpoint of group.endpoints) {
      if (endpoint.state === 'unready') continue;
      const url = `${scheme}://${endpoint.address.includes(':') ? `[${endpoint.address}]` : endpoint.address}:${port.port}`;
      const ready = endpoint.state === 'ready';
      const seen = chosen.get(url);
      if (seen && (seen.ready || !ready)) continue;
      chosen.set(url, { desired: { url, weight: WEIGHT, terminating: !ready, meta: compact(endpoint.meta), ...(protocol ? { protocol } : {}) }, ready });
    }
  }

  const endpointCount = withEndpoints.reduce((n, g) => n + g.endpoints.length, 0);
  if (!matchedAny && wantedPort !== undefined && endpointCount > 0) {
    return { backends: [], skipped: [], problem: portNotFound(withEndpoints, wantedPort, ref) };
  }
  return {
    backends: [...chosen.values()].map((c) => c.desired),
    problem: undefined,
    skipped: unmatched.map((slice) => ({ slice, reason: 'unmatchedPorts', addressType: '' })),
  };
}

/** A port name can never be all digits, so "8080" written as a string means the number. */
function normaliseWanted(wanted: string | number | undefined): string | number | undefined {
  if (typeof wanted === 'string' && /^\d+$/.test(wanted)) return Number(wanted);
  return wanted;
}

/** sluice proxies HTTP, so only TCP ports with a number are candidates. */
function tcpPorts(ports: readonly EndpointPort[]): (EndpointPort & { port: number })[] {
  return ports.filter((p): p is EndpointPort & { port: number } =>
    (p.protocol ?? 'TCP') === 'TCP' && typeof p.port === 'number' && p.port > 0);
}

function portNotFound(groups: readonly EndpointGroup[], wanted: string | number, ref: ServiceRef): string {
  const seen = new Set<string>();
  for (const g of groups) for (const p of tcpPorts(g.ports)) seen.add(p.name ? `${p.name} (${p.port})` : `${p.port} (unnamed)`);
  const have = seen.size > 0 ? `its endpoints have ports ${[...seen].join(', ')}` : 'its endpoints have no TCP ports';
  const svc = `service ${ref.namespace}/${ref.service}`;
  if (typeof wanted === 'number') {
    return `${svc} has no endpoint port ${wanted}; a numeric discovery.kubernetes.port is the target (pod) port, not the Service port — ${have}`;
  }
  return `${svc} has no port named "${wanted}"; ${have}`;
}

/** How sluice speaks to a port: the URL scheme of its endpoints, and their own protocol (none: upstream.protocol). */
export interface PortProtocol {
  scheme: 'http' | 'https';
  protocol?: UpstreamProtocol;
}

/**
 * The port's appProtocol says how to speak to it: h2c for `kubernetes.io/h2c` and for `grpc`
 * (cleartext), HTTP/1.1 for `http` and `kubernetes.io/ws`, HTTP/1.1 over TLS (https://, with
 * upstream.tls) for `https` (the IANA name, which meshes and gateways read the same way) and
 * `kubernetes.io/wss` (WebSocket over TLS, KEP-3726); anything else (or none) is
 * cleartext and leaves the protocol to upstream.protocol. Nothing maps to h2 (HTTP/2 over TLS):
 * no value is agreed on for it (KEP-3726 names `HTTP2` as the example of one that means HTTP/2
 * over TLS to GKE and h2c to Istio).
 */
export function portProtocolOf(appProtocol: string | null | undefined): PortProtocol {
  switch (appProtocol) {
    case 'kubernetes.io/h2c': case 'grpc': return { scheme: 'http', protocol: 'h2c' };
    // WebSocket begins as an HTTP/1.1 Upgrade, so its ports are HTTP/1.1 whatever upstream.protocol says.
    case 'http': case 'kubernetes.io/http': case 'kubernetes.io/ws': return { scheme: 'http', protocol: 'http1' };
    case 'https': case 'kubernetes.io/wss': return { scheme: 'https', protocol: 'http1' };
    default: return { scheme: 'http' };
  }
}

function compact(meta: BackendMeta): BackendMeta {
  const out: BackendMeta = {};
  if (meta.pod) out.pod = meta.pod;
  if (meta.node) out.node = meta.node;
  if (meta.zone) out.zone = meta.zone;
  if (meta.forZones !== undefined) out.forZones = meta.forZones;
  return out;
}
