// EndpointSlices (discovery.k8s.io/v1) of one Service → its desired backend set. All slices of
// the Service are merged; the endpoint state model is kube-proxy's:
//   ready (conditions.ready true or absent, not terminating)    → a normal backend
//   terminating and serving (serving absent: use ready)          → a fallback backend
//   anything else                                                → not wanted (it drains)

import type { IpFamily } from '../../config/config.ts';
import type { EndpointGroup, EndpointState, MappedEndpoints, ServiceRef, SkippedSlice } from './endpoint-groups.ts';
import { groupsToBackends } from './endpoint-groups.ts';
import type { EndpointSlice, SliceEndpoint } from './kube-types.ts';

/** The label the EndpointSlice controller puts on every slice of a Service. */
export const SERVICE_NAME_LABEL = 'kubernetes.io/service-name';

export function endpointSlicesToBackends(slices: Iterable<EndpointSlice>, wanted: string | number | undefined, ref: ServiceRef, ipFamily: IpFamily = 'auto'): MappedEndpoints {
  // Name order, so the result does not depend on the order events arrived in.
  const sorted = [...slices].sort((a, b) => (a.metadata?.name ?? '').localeCompare(b.metadata?.name ?? ''));
  const family = ipFamily === 'auto' ? autoFamily(sorted) : ipFamily;
  const skipped: SkippedSlice[] = [];
  const used: EndpointSlice[] = [];
  for (const s of sorted) {
    const addressType = s.addressType ?? '';
    if (addressType === family) used.push(s);
    else if (s.metadata?.name) skipped.push({ slice: s.metadata.name, reason: addressType === 'FQDN' ? 'FQDN' : 'otherFamily', addressType });
  }
  const groups: EndpointGroup[] = used.map((s) => ({
    slice: s.metadata?.name ?? undefined,
    ports: s.ports ?? [],
    endpoints: (s.endpoints ?? []).flatMap((e) => (e.addresses ?? []).slice(0, 1).map((address) => ({
      address,
      state: endpointState(e),
      meta: {
        pod: e.targetRef?.name ?? undefined,
        node: e.nodeName ?? undefined,
        zone: e.zone ?? undefined,
        forZones: e.hints?.forZones?.flatMap((z) => (z.name ? [z.name] : [])),
      },
    }))),
  }));
  const mapped = groupsToBackends(groups, wanted, ref);
  for (const u of mapped.skipped) u.addressType = family ?? '';
  return { ...mapped, skipped: [...skipped, ...mapped.skipped], family };
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
 * every pod twice, so one family is used: IPv4 when it has endpoints, else IPv6 when it has,
 * else whichever has slices (IPv4 first). FQDN slices are never used, as in kube-proxy: sluice
 * would have to resolve names it cannot health-check per address.
 */
function autoFamily(slices: readonly EndpointSlice[]): 'IPv4' | 'IPv6' | undefined {
  const families = ['IPv4', 'IPv6'] as const;
  return families.find((f) => slices.some((s) => s.addressType === f && (s.endpoints?.length ?? 0) > 0))
    ?? families.find((f) => slices.some((s) => s.addressType === f));
}
