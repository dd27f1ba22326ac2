// Runs a KubernetesSource in a process of its own: start, wait for `watches` renewed watches,
// stop, print the status as JSON and return. The process must then exit by itself: any socket
// or timer stop() left behind would keep it alive.

import { pino } from 'pino';
import { DEFAULTS } from '../../../src/config/config.ts';
import { Pool } from '../../../src/pool/pool.ts';
import { KubernetesSource } from '../../../src/sources/kubernetes/kubernetes-source.ts';

const [service, namespace, watchdogMs, watches] = process.argv.slice(2);
const log = pino({ level: 'info' }, process.stderr);
const pool = new Pool(log, () => ({
  thresholds: { healthyThreshold: 1, unhealthyThreshold: 1 },
  passiveHealth: DEFAULTS.passiveHealth,
  topology: { zone: '', preferSameZone: true },
  connection: { connectMs: 1000, maxConnections: 16, protocol: DEFAULTS.upstream.protocol },
}));
const source = new KubernetesSource({ service, namespace, port: 'http', api: 'endpointslices', ipFamily: 'auto', watchdogMs: Number(watchdogMs) }, pool, log, {});
await source.start();
const backends = pool.all.map((b) => b.url);
const deadline = Date.now() + 30_000;
while ((source.status().watchRestarts as number) < Number(watches) && Date.now() < deadline) {
  await new Promise((resolve) => setTimeout(resolve, 50));
}
await source.stop();
pool.close();
process.stdout.write(`${JSON.stringify({ backends, status: source.status(), stoppedAt: Date.now() })}\n`);
