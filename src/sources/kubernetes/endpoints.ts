// core/v1 Endpoints of one Service → its desired backend set (discovery.kubernetes.api:
// endpoints, for clusters or policies without EndpointSlices). Endpoints know no terminating
// state: `addresses` are ready backends, `notReadyAddresses` are not used.

import type { IpFamily } from '../../config/config.ts';
import type { EndpointGroup, MappedEndpoints, ServiceRef } from './endpoint-groups.ts';
import { groupsToBackends } from './endpoint-groups.ts';
import type { Endpoints } from './kube-types.ts';

export function endpointsToBackends(endpoints: Endpoints | undefined, wanted: string | number | undefined, ref: ServiceRef, ipFamily: IpFamily = 'auto'): MappedEndpoints {
  // Endpoints carry only the Service's primary family; an explicit ipFamily still filters.
  const wantedFamily = (ip: string): boolean => ipFamily === 'auto' || (ip.includes(':') ? 'IPv6' : 'IPv4') === ipFamily;
  const groups: EndpointGroup[] = (endpoints?.subsets ?? []).map((subset) => ({
    ports: subset.ports ?? [],
    endpoints: [
      ...(subset.addresses ?? []).map((a) => ({ address: a.ip ?? '', state: 'ready' as const, meta: { pod: a.targetRef?.name ?? undefined, node: a.nodeName ?? undefined } })),
      // Listed as unready so a wrong port is still reported while every pod is starting.
      ...(subset.notReadyAddresses ?? []).map((a) => ({ address: a.ip ?? '', state: 'unready' as const, meta: {} })),
    ].filter((e) => e.address !== '' && wantedFamily(e.address)),
  }));
  return groupsToBackends(groups, wanted, ref);
}
