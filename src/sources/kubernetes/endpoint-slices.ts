// EndpointSlices (discovery.k8s.io/v1) of one Service → its desired backend set. All slices of
// the Service are merged; the endpoint state model is kube-proxy's:
//   ready (conditions.ready true or absent, not terminating)    → a normal backend
//   terminating and serving (serving absent: use ready)          → a fallback backend
//   anything else                                                → not wanted (it drains)

import type { EndpointGroup, EndpointState, MappedEndpoints, ServiceRef } from './endpoint-groups.ts';
import { groupsToBackends } from './endpoint-groups.ts';
import type { EndpointSlice, SliceEndpoint } from './kube-types.ts';

/** The label the EndpointSlice controller puts on every slice of a Service. */
export const SERVICE_NAME_LABEL = 'kubernetes.io/service-name';

export function endpointSlicesToBackends(slices: Iterable<EndpointSlice>, wanted: string | number | undefined, ref: ServiceRef): MappedEndpoints {
  // Name order, so the result does not depend on the order events arrived in.
  const sorted = [...slices].sort((a, b) => (a.metadata?.name ?? '').localeCompare(b.metadata?.name ?? ''));
  const family = preferredFamily(sorted);
  const groups: EndpointGroup[] = sorted
    .filter((s) => s.addressType === family)
    .map((s) => ({
      ports: s.ports ?? [],
      endpoints: (s.endpoints ?? []).flatMap((e) => (e.addresses ?? []).slice(0, 1).map((address) => ({
        address,
        state: endpointState(e),
        meta: { pod: e.targetRef?.name ?? undefined, node: e.nodeName ?? undefined, zone: e.zone ?? undefined },
      }))),
    }));
  return groupsToBackends(groups, wanted, ref);
}

export function endpointState(endpoint: SliceEndpoint): EndpointState {
  const c = endpoint.conditions ?? {};
  const ready = c.ready ?? true;
  const serving = c.serving ?? ready;
  if (c.terminating === true) return serving ? 'terminating' : 'unready';
  return ready ? 'ready' : 'unready';
}

/**
 * A dual-stack Service has an IPv4 and an IPv6 slice for the same pods. Using both would list
 * every pod twice, so one family is used: IPv4 when it has endpoints, else IPv6, else FQDN.
 */
function preferredFamily(slices: readonly EndpointSlice[]): string | undefined {
  for (const family of ['IPv4', 'IPv6', 'FQDN']) {
    if (slices.some((s) => s.addressType === family && (s.endpoints?.length ?? 0) > 0)) return family;
  }
  return slices.find((s) => s.addressType)?.addressType;
}
