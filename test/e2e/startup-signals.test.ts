// Issue 7, failure 7: signal handlers were installed only after start-up, so a SIGHUP during a
// slow discovery start-up killed the process, and /readyz could be 200 before the Kubernetes
// source's first sync when static and discovered backends were mixed. Here discovery points at a
// Kubernetes API that accepts connections and never answers, so start-up stays in progress.

import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'chai';
import { request } from 'undici';
import { cleanupPerTest, startRawBackends, steadyConfig } from '../helpers/raw-http.ts';
import { SluiceProcess } from '../helpers/sluice-process.ts';
import { startBackends } from '../helpers/test-backend.ts';

describe('signals and readiness during start-up (e2e)', () => {
  const cleanup = cleanupPerTest();

  it('survives a SIGHUP while discovery is starting, stays unready until it syncs, and stops cleanly on SIGTERM', async () => {
    const [api] = cleanup.add(await startRawBackends(1, () => 'detach', 'kube'), (bs) => Promise.all(bs.map((b) => b.kill())));
    const [staticBackend] = cleanup.add(await startBackends(1, 's'), (bs) => Promise.all(bs.map((b) => b.kill())));
    const config = steadyConfig([staticBackend.url], 'discovery:\n  kubernetes:\n    service: app\n    namespace: default\n    port: 8080');
    const sluice = cleanup.add(new SluiceProcess(config), (s) => s.stop());
    const kubeconfig = join(sluice.dir, 'kubeconfig');
    writeFileSync(kubeconfig, [
      'apiVersion: v1', 'kind: Config', 'current-context: test',
      // A TCP listener that never answers: the TLS handshake itself hangs.
      'clusters:', '- name: test', '  cluster:', `    server: ${api.url.replace('http:', 'https:')}`, '    insecure-skip-tls-verify: true',
      'contexts:', '- name: test', '  context:', '    cluster: test', '    user: test', '    namespace: default',
      'users:', '- name: test', '  user:', '    token: not-a-real-token', '',
    ].join('\n'));
    await sluice.start(1, ['--config', sluice.configPath, '--kubeconfig', kubeconfig]);
    await sluice.waitForLog((l) => l.msg === 'kubernetes discovery starting', 'discovery to start');
    expect(sluice.logs.some((l) => l.msg === 'kubernetes discovery synced')).to.equal(false);

    // The static backend is healthy, but a configured source has not synced: not ready.
    const readyz = await request(sluice.adminUrl + '/readyz');
    expect(readyz.statusCode).to.equal(503);
    expect(await readyz.body.text()).to.match(/discovery not synced/);

    sluice.signal('SIGHUP');
    await sluice.waitForLog((l) => l.msg === 'SIGHUP during start-up: reloading once started', 'the SIGHUP to be noted');
    expect(sluice.exitCode, 'exit code after the SIGHUP').to.equal(null);
    expect((await request(sluice.adminUrl + '/healthz')).statusCode).to.equal(200);

    sluice.signal('SIGTERM');
    expect(await sluice.waitForExit()).to.equal(0);
    expect(sluice.logs.some((l) => l.msg === 'stop signal during start-up')).to.equal(true);
  });
});
