// Dynamic discovery sources (today: Kubernetes). Loaded only when configured, so standalone
// users never pay for the Kubernetes client.

import type { Logger } from 'pino';
import type { DiscoveryStatus } from '../admin/status.ts';
import type { KubernetesDiscoveryConfig } from '../config/config.ts';
import type { Pool } from '../pool/pool.ts';

export interface DiscoveryOptions {
  /** --kubeconfig: a kubeconfig file instead of in-cluster credentials or $KUBECONFIG. */
  kubeconfig?: string;
  /** --context: a kubeconfig context other than the current one. */
  context?: string;
}

export interface DiscoverySource {
  /** True once the first complete list has been handed to the pool. */
  readonly synced: boolean;
  status(): DiscoveryStatus;
  stop(): Promise<void>;
}

export async function startDiscovery(config: KubernetesDiscoveryConfig, pool: Pool, log: Logger, options: DiscoveryOptions): Promise<DiscoverySource> {
  const { KubernetesSource } = await import('./kubernetes/kubernetes-source.ts');
  const source = new KubernetesSource(config, pool, log.child({ component: 'kubernetes' }), options);
  await source.start();
  return source;
}
