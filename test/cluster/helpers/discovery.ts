// Services, EndpointSlices and Endpoints as tests write them, and sluice started against them.

import type { KubernetesObject } from '@kubernetes/client-node';
import { eventually } from '../../helpers/eventually.ts';
import { SluiceProcess, testPreamble, type StatusBackend } from '../../helpers/sluice-process.ts';
import { apply, env } from './cluster.ts';

export type EndpointCondition = 'ready' | 'not-ready' | 'terminating' | 'terminating-not-serving';

export interface TestEndpoint {
  ip: string;
  state?: EndpointCondition;
  /** Default: podName(ip). A dual-stack pod has one name for both of its addresses. */
  pod?: string;
  /** Default: zone-1. */
  zone?: string;
  /** EndpointSlice hints.forZones, as the topology-aware routing controller would set them. */
  forZones?: string[];
}

export interface TestPort {
  name: string;
  port: number;
  targetPort: number;
}

export const HTTP_PORT: TestPort[] = [{ name: 'http', port: 80, targetPort: 8080 }];

const CONDITIONS: Record<EndpointCondition, object> = {
  ready: { ready: true, serving: true, terminating: false },
  'not-ready': { ready: false, serving: false, terminating: false },
  terminating: { ready: false, serving: true, terminating: true },
  'terminating-not-serving': { ready: false, serving: false, terminating: true },
};

/** The pod name sluice should show for an address: pod-198-18-7-2 (pod-fd00-5c-7--2 for IPv6). */
export function podName(ip: string): string {
  return `pod-${ip.replaceAll('.', '-').replaceAll(':', '-')}`;
}

export function service(namespace: string, name: string, ports: TestPort[] = HTTP_PORT): KubernetesObject {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name, namespace },
    spec: { ports: ports.map((p) => ({ name: p.name, port: p.port, targetPort: p.targetPort, protocol: 'TCP' })) },
  } as KubernetesObject;
}

export function endpointSlice(namespace: string, name: string, serviceName: string, endpoints: TestEndpoint[], ports: TestPort[] = HTTP_PORT, addressType: 'IPv4' | 'IPv6' | 'FQDN' = 'IPv4'): KubernetesObject {
  return {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: { name, namespace, labels: { 'kubernetes.io/service-name': serviceName } },
    addressType,
    ports: ports.map((p) => ({ name: p.name, port: p.targetPort, protocol: 'TCP' })),
    endpoints: endpoints.map((e) => ({
      addresses: [e.ip],
      conditions: CONDITIONS[e.state ?? 'ready'],
      nodeName: 'node-a',
      zone: e.zone ?? 'zone-1',
      ...(e.forZones ? { hints: { forZones: e.forZones.map((name) => ({ name })) } } : {}),
      targetRef: { kind: 'Pod', name: e.pod ?? podName(e.ip), namespace },
    })),
  } as KubernetesObject;
}

export function endpoints(namespace: string, name: string, ready: string[], notReady: string[] = [], ports: TestPort[] = HTTP_PORT): KubernetesObject {
  const address = (ip: string): object => ({ ip, nodeName: 'node-a', targetRef: { kind: 'Pod', name: podName(ip), namespace } });
  return {
    apiVersion: 'v1',
    kind: 'Endpoints',
    metadata: { name, namespace },
    subsets: [{
      ...(ready.length ? { addresses: ready.map(address) } : {}),
      ...(notReady.length ? { notReadyAddresses: notReady.map(address) } : {}),
      ports: ports.map((p) => ({ name: p.name, port: p.targetPort, protocol: 'TCP' })),
    }],
  } as KubernetesObject;
}

export interface DiscoverySettings {
  service: string;
  /** Omitted: sluice's default (the pod's namespace in-cluster, else "default"). */
  namespace?: string;
  port?: string | number;
  api?: 'endpointslices' | 'endpoints';
  ipFamily?: 'auto' | 'IPv4' | 'IPv6';
  watchdog?: string;
  accessLog?: boolean;
}

/** Loopback listeners on ephemeral ports, fast health checks, discovery as given. */
export function discoveryConfig(d: DiscoverySettings): string {
  return [
    ...testPreamble(1),
    ...(d.accessLog ? ['accessLog: true'] : []),
    'discovery:',
    '  kubernetes:',
    `    service: ${d.service}`,
    ...(d.namespace ? [`    namespace: ${d.namespace}`] : []),
    ...(d.port !== undefined ? [`    port: ${typeof d.port === 'number' ? d.port : JSON.stringify(d.port)}`] : []),
    ...(d.api ? [`    api: ${d.api}`] : []),
    ...(d.ipFamily ? [`    ipFamily: ${d.ipFamily}`] : []),
    ...(d.watchdog ? [`    watchdog: ${d.watchdog}`] : []),
    '',
  ].join('\n');
}

export interface DiscoveryStatus {
  kind: string;
  api: string;
  namespace: string;
  service: string;
  synced: boolean;
  lastSyncAt: string | null;
  lastEventAt: string | null;
  lastError: { at: string; message: string } | null;
  watchRestarts: number;
  relists: number;
  resourceVersion: string | null;
  endpoints: number;
  [key: string]: unknown;
}

export class DiscoverySluice extends SluiceProcess {
  /** Starts sluice as users do, with --kubeconfig, and waits until discovery has synced. */
  async startSynced(kubeconfig = env.kubeconfig): Promise<this> {
    await this.start(0, ['--config', this.configPath, '--kubeconfig', kubeconfig]);
    await eventually(async () => (await this.discovery()).synced, 'discovery to sync', 15_000);
    return this;
  }

  async discovery(): Promise<DiscoveryStatus> {
    return (await this.status()).discovery as DiscoveryStatus;
  }

  /** Backends by URL, including those still draining out. */
  async backends(): Promise<Map<string, StatusBackend>> {
    return new Map((await this.status()).backends.map((b) => [b.url, b]));
  }
}

export function url(ip: string, port = 8080): string {
  return `http://${ip.includes(':') ? `[${ip}]` : ip}:${port}`;
}
