// Placeholder until EndpointSlice discovery lands (issue: Kubernetes-native).

import type { Logger } from 'pino';
import type { DiscoveryStatus } from '../../admin/status.ts';
import type { KubernetesDiscoveryConfig } from '../../config/config.ts';
import { SluiceError } from '../../errors.ts';
import type { Pool } from '../../pool/pool.ts';
import type { DiscoveryOptions, DiscoverySource } from '../discovery.ts';

export class KubernetesSource implements DiscoverySource {
  readonly synced = false;
  constructor(_config: KubernetesDiscoveryConfig, _pool: Pool, _log: Logger, _options: DiscoveryOptions) {}
  async start(): Promise<void> {
    throw new SluiceError('SLUICE_NOT_IMPLEMENTED', 'Kubernetes discovery is not available in this build.', 2);
  }
  status(): DiscoveryStatus {
    return {};
  }
  async stop(): Promise<void> {}
}
