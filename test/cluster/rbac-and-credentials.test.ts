// sluice's identity: the chart's (and deploy/'s) ServiceAccount, Role and RoleBinding must be
// all it needs; anything less, or no way to reach the API server, ends startup with one
// sentence and exit code 1; a credentials file that cannot be used, with exit code 2.

import { expect } from 'chai';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { KubernetesObject } from '@kubernetes/client-node';
import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { request } from 'undici';
import { makeLeaf } from '../helpers/certs.ts';
import { eventually } from '../helpers/eventually.ts';
import { SLUICE_BIN } from '../helpers/sluice-process.ts';
import { BackendNet } from './helpers/backend-net.ts';
import { apply, ensureNamespace, env, kubectlOk, remove, writeTokenKubeconfig } from './helpers/cluster.ts';
import { DiscoverySluice, discoveryConfig, endpointSlice, service, url, type DiscoverySettings } from './helpers/discovery.ts';
import { helmTemplate, kustomizeDeploy, parseManifests, toYaml, type Manifest } from './helpers/manifests.ts';

const CHART_NS = 'rbac-chart';
const DEPLOY_NS = 'rbac-deploy';

/** The identity objects out of a rendering, applied as the admin. */
async function applyIdentity(rendered: string, namespace: string): Promise<{ serviceAccount: string; role: Manifest }> {
  const identity = parseManifests(rendered).filter((m) => ['ServiceAccount', 'Role', 'RoleBinding'].includes(m.kind));
  expect(identity.map((m) => m.kind).sort()).to.deep.equal(['Role', 'RoleBinding', 'ServiceAccount']);
  await kubectlOk(['apply', '--namespace', namespace, '-f', '-'], toYaml(identity));
  return {
    serviceAccount: identity.find((m) => m.kind === 'ServiceAccount')!.metadata.name,
    role: identity.find((m) => m.kind === 'Role')!,
  };
}

async function tokenFor(serviceAccount: string, namespace: string): Promise<string> {
  return (await kubectlOk(['create', 'token', serviceAccount, '--namespace', namespace, '--duration', '10m'])).trim();
}

describe('RBAC and credentials (real kube-apiserver)', () => {
  let net: BackendNet;
  let dir: string;
  let sluices: DiscoverySluice[] = [];
  const objects: KubernetesObject[] = [];

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'sluice-rbac-'));
    net = await BackendNet.create(1);
    for (const ns of [CHART_NS, DEPLOY_NS]) {
      await ensureNamespace(ns);
      for (const o of [service(ns, 'web'), endpointSlice(ns, 'web-x', 'web', [{ ip: net.addresses[0] }])]) {
        await apply(o);
        objects.push(o);
      }
    }
  });
  after(async () => {
    await net?.stop();
    for (const o of objects.reverse()) await remove(o);
    rmSync(dir, { recursive: true, force: true });
  });
  afterEach(async () => {
    await Promise.all(sluices.map((s) => s.stop()));
    sluices = [];
  });

  function sluiceFor(d: DiscoverySettings): DiscoverySluice {
    const s = new DiscoverySluice(discoveryConfig(d));
    sluices.push(s);
    return s;
  }

  /** Runs sluice until it exits on its own; returns exit code, stderr and how long it ran. */
  async function runToExit(d: DiscoverySettings, kubeconfig: string): Promise<{ code: number; stderr: string; ms: number }> {
    const s = sluiceFor(d);
    const started = Date.now();
    s.spawn(['--config', s.configPath, '--kubeconfig', kubeconfig]);
    const code = await s.waitForExit();
    return { code, stderr: s.stderr, ms: Date.now() - started };
  }

  async function servesWith(kubeconfig: string, namespace: string): Promise<void> {
    const s = await sluiceFor({ service: 'web', namespace, port: 'http' }).startSynced(kubeconfig);
    await s.waitForHealthy(1);
    const res = await request(`${s.proxyUrl}/`);
    expect(await res.body.text()).to.equal(`${net.addresses[0]}:8080`);
    expect([...(await s.backends()).keys()]).to.deep.equal([url(net.addresses[0])]);
    expect((await s.discovery()).lastError).to.equal(null);
  }

  it('runs with nothing but the ServiceAccount, Role and RoleBinding the chart renders', async () => {
    const { serviceAccount, role } = await applyIdentity(await helmTemplate(CHART_NS, ['--set', 'discovery.service=web']), CHART_NS);
    // Read-only, and only endpoints: nothing in the Role beyond what discovery uses.
    for (const rule of role.rules as { verbs: string[]; resources: string[] }[]) {
      expect(rule.verbs).to.have.members(['get', 'list', 'watch']);
      expect(['endpointslices', 'endpoints']).to.include.members(rule.resources);
    }
    const kubeconfig = writeTokenKubeconfig(join(dir, 'chart-sa.kubeconfig'), await tokenFor(serviceAccount, CHART_NS));
    await servesWith(kubeconfig, CHART_NS);
    const endpointsMode = sluiceFor({ service: 'web', namespace: CHART_NS, port: 'http', api: 'endpoints' });
    // core/v1 Endpoints are granted too; the Service has none here, so the set is empty.
    await endpointsMode.startSynced(kubeconfig);
    expect(await endpointsMode.discovery()).to.include({ synced: true, endpoints: 0, lastError: null });
    // The Role cannot read Services, so sluice cannot tell a missing one from one without endpoints.
    await eventually(async () => (await endpointsMode.discovery()).problem === 'no Endpoints for service web in namespace rbac-chart', 'the sentence the Role allows', 10_000);
    expect(await (await fetch(`${endpointsMode.adminUrl}/readyz`)).text()).to.equal('not ready: no healthy backend (no Endpoints for service web in namespace rbac-chart)\n');
  });

  it('runs with nothing but the ServiceAccount, Role and RoleBinding in deploy/', async () => {
    const { serviceAccount } = await applyIdentity(await kustomizeDeploy(), DEPLOY_NS);
    const kubeconfig = writeTokenKubeconfig(join(dir, 'deploy-sa.kubeconfig'), await tokenFor(serviceAccount, DEPLOY_NS));
    await servesWith(kubeconfig, DEPLOY_NS);
  });

  it('runs with a client certificate the cluster CA signed, and with a token from an exec plugin', async () => {
    // Both identities get the chart's Role, bound to the certificate's user and a ServiceAccount.
    const { serviceAccount, role } = await applyIdentity(await helmTemplate(CHART_NS, ['--set', 'discovery.service=web']), CHART_NS);
    const binding = {
      apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding', metadata: { name: 'sluice-cert-user', namespace: CHART_NS },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: role.metadata.name },
      subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: 'sluice-cert-user' }],
    } as KubernetesObject;
    await apply(binding);
    objects.push(binding);
    const pki = join(env.dir, 'pki');
    const leaf = makeLeaf(dir, { cert: join(pki, 'ca.crt'), key: join(pki, 'ca.key'), fingerprint: '' }, 'sluice-cert-user', 'client');
    const kubeconfigWith = (file: string, user: string[]): string => {
      writeFileSync(file, [
        'apiVersion: v1', 'kind: Config', 'current-context: test',
        'clusters:', '- name: test', '  cluster:', `    server: ${env.server}`, `    certificate-authority: ${env.caFile}`,
        'users:', '- name: u', '  user:', ...user.map((l) => `    ${l}`),
        'contexts:', '- name: test', '  context:', '    cluster: test', '    user: u',
        '',
      ].join('\n'));
      return file;
    };
    await servesWith(kubeconfigWith(join(dir, 'cert.kubeconfig'), [`client-certificate: ${leaf.cert}`, `client-key: ${leaf.key}`]), CHART_NS);

    const tokenFile = join(dir, 'exec-token');
    writeFileSync(tokenFile, await tokenFor(serviceAccount, CHART_NS));
    const credential = '{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"%s"}}';
    await servesWith(kubeconfigWith(join(dir, 'exec.kubeconfig'), [
      'exec:', '  apiVersion: client.authentication.k8s.io/v1', '  command: sh', '  args:', '  - -c',
      `  - ${JSON.stringify(`printf '${credential}' "$(cat ${tokenFile})"`)}`, '  interactiveMode: Never',
    ]), CHART_NS);
  });

  it('runs in-cluster with the pod\'s service account token, CA and namespace, without a kubeconfig', async () => {
    const { serviceAccount } = await applyIdentity(await helmTemplate(CHART_NS, ['--set', 'discovery.service=web']), CHART_NS);
    // What the kubelet mounts into a pod, mounted the same way for this one process: a private
    // mount namespace with a tmpfs on /run (/var/run), so the host is not touched.
    const mounted = join(dir, 'serviceaccount');
    mkdirSync(mounted, { recursive: true });
    writeFileSync(join(mounted, 'token'), await tokenFor(serviceAccount, CHART_NS));
    copyFileSync(env.caFile, join(mounted, 'ca.crt'));
    writeFileSync(join(mounted, 'namespace'), CHART_NS);
    const config = join(dir, 'in-cluster.yaml');
    writeFileSync(config, discoveryConfig({ service: 'web', port: 'http' }));
    const { KUBECONFIG: _ignored, ...hostEnv } = process.env;
    const child = spawn('unshare', [
      '--mount', '--propagation', 'private', 'sh', '-c',
      'mount -t tmpfs tmpfs /run && mkdir -p /run/secrets/kubernetes.io/serviceaccount && cp "$1"/* /run/secrets/kubernetes.io/serviceaccount/ && shift && exec "$@"',
      'sh', mounted, process.execPath, SLUICE_BIN, '--config', config,
    ], {
      env: { ...hostEnv, KUBERNETES_SERVICE_HOST: '127.0.0.1', KUBERNETES_SERVICE_PORT: new URL(env.server).port },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => { stdout += c; });
    child.stderr.setEncoding('utf8').on('data', (c: string) => { stderr += c; });
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    try {
      const admin = await eventually(() => {
        if (child.exitCode !== null) throw new Error(`sluice exited ${child.exitCode}: ${stderr}`);
        return /"address":"([^"]+)","msg":"admin listening"/.exec(stdout)?.[1];
      }, 'the admin listener');
      const status = await eventually(async () => {
        const s = (await (await fetch(`http://${admin}/status`)).json()) as { discovery: Record<string, unknown>; backends: { url: string; healthy: boolean }[] };
        return s.discovery.synced && s.backends.some((b) => b.healthy) ? s : undefined;
      }, 'discovery to sync in-cluster', 15_000);
      expect(status.discovery).to.include({ namespace: CHART_NS, server: `https://127.0.0.1:${new URL(env.server).port}`, endpoints: 1, lastError: null });
      expect(status.backends.map((b) => b.url)).to.deep.equal([url(net.addresses[0])]);
      expect(stdout).to.contain('"credentials":"the in-cluster service account"');
    } finally {
      child.kill('SIGTERM');
      await exited;
    }
  });

  it('exits 1 naming the missing permission when the ServiceAccount has no RoleBinding', async () => {
    await kubectlOk(['apply', '--namespace', CHART_NS, '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'unbound' } }));
    const kubeconfig = writeTokenKubeconfig(join(dir, 'unbound.kubeconfig'), await tokenFor('unbound', CHART_NS));
    const slices = await runToExit({ service: 'web', namespace: CHART_NS }, kubeconfig);
    expect(slices.code).to.equal(1);
    expect(slices.stderr).to.equal(`sluice: cannot list endpointslices in namespace ${CHART_NS}: forbidden for system:serviceaccount:${CHART_NS}:unbound — the Role needs get, list and watch on endpointslices (API group discovery.k8s.io)\n`);
    expect(slices.ms, 'a forbidden list fails at once, without retrying').to.be.below(10_000);
    const core = await runToExit({ service: 'web', namespace: CHART_NS, api: 'endpoints' }, kubeconfig);
    expect(core.code).to.equal(1);
    expect(core.stderr).to.equal(`sluice: cannot list endpoints in namespace ${CHART_NS}: forbidden for system:serviceaccount:${CHART_NS}:unbound — the Role needs get, list and watch on endpoints (the core API group)\n`);
  });

  it('exits 1 when the API server rejects the token', async () => {
    const kubeconfig = writeTokenKubeconfig(join(dir, 'bogus.kubeconfig'), 'not-a-token');
    const r = await runToExit({ service: 'web', namespace: CHART_NS }, kubeconfig);
    expect(r.code).to.equal(1);
    expect(r.stderr).to.equal(`sluice: the Kubernetes API server at ${env.server} rejected the credentials from kubeconfig ${kubeconfig} (context test) (401 Unauthorized)\n`);
  });

  it('exits 2 when the kubeconfig does not exist', async () => {
    const r = await runToExit({ service: 'web', namespace: CHART_NS }, join(dir, 'missing.kubeconfig'));
    expect(r.code).to.equal(2);
    expect(r.stderr).to.equal(`sluice: cannot read kubeconfig ${join(dir, 'missing.kubeconfig')} (--kubeconfig): no such file\n`);
  });

  it('exits 1 after 30 seconds when the API server cannot be reached at startup, not ready meanwhile', async () => {
    // A port nothing listens on: bind one, note it, close it.
    const port = await new Promise<number>((resolve) => {
      const probe = createServer().listen(0, '127.0.0.1', () => {
        const p = (probe.address() as { port: number }).port;
        probe.close(() => resolve(p));
      });
    });
    const kubeconfig = writeTokenKubeconfig(join(dir, 'unreachable.kubeconfig'), 'whatever');
    writeFileSync(kubeconfig, readFileSync(kubeconfig, 'utf8').replace(env.server, `https://127.0.0.1:${port}`));
    const s = sluiceFor({ service: 'web', namespace: CHART_NS });
    const started = Date.now();
    s.spawn(['--config', s.configPath, '--kubeconfig', kubeconfig]);
    await eventually(() => s.admin !== '', 'the admin listener');
    expect((await fetch(`${s.adminUrl}/readyz`)).status, '/readyz before the first sync').to.equal(503);
    const code = await s.waitForExit();
    const ms = Date.now() - started;
    expect(code).to.equal(1);
    expect(s.stderr).to.equal(`sluice: cannot reach the Kubernetes API server at https://127.0.0.1:${port} (connection refused); gave up after 30s\n`);
    expect(ms).to.be.within(29_000, 40_000);
  });
});
