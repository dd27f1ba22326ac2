// The Helm chart and the plain manifests, checked by the tools users run and by a real API
// server (server-side dry run: schema validation, defaulting and admission, nothing stored).

import { expect } from 'chai';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureNamespace, env, kubectl, run } from './helpers/cluster.ts';
import { CHART, REPO, REQUIRED_VALUES, helm, helmTemplate, kustomizeDeploy, parseManifests, type Manifest } from './helpers/manifests.ts';

const NS = 'manifests';

/** The chart names every object's namespace (the Role may live in another one); deploy/ names none. */
async function serverDryRun(rendered: string, namespace?: string): Promise<string> {
  const r = await kubectl(['apply', '--dry-run=server', ...(namespace ? ['--namespace', namespace] : []), '-f', '-'], rendered);
  expect(r.code, `kubectl apply --dry-run=server: ${r.stderr}`).to.equal(0);
  return r.stdout;
}

function find(manifests: Manifest[], kind: string): Manifest {
  const found = manifests.find((m) => m.kind === kind);
  expect(found, `a ${kind} in the rendering`).to.not.equal(undefined);
  return found!;
}

interface Container { resources: unknown; args?: string[] }
function container(deployment: Manifest): Container {
  return (deployment.spec as { template: { spec: { containers: Container[] } } }).template.spec.containers[0];
}

describe('Helm chart and plain manifests (real kube-apiserver)', () => {
  let dir: string;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'sluice-manifests-'));
    await ensureNamespace(NS);
    // ci/replicas-resources-values.yaml points discovery at a Service in namespace "store".
    await ensureNamespace('store');
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  /** sluice itself must accept the config.yaml a rendering generates. */
  async function validatesConfig(manifests: Manifest[], name: string): Promise<void> {
    const configMap = manifests.find((m) => m.kind === 'ConfigMap' && (m.data as Record<string, string> | undefined)?.['config.yaml']);
    expect(configMap, 'a ConfigMap with config.yaml').to.not.equal(undefined);
    const file = join(dir, `${name}.yaml`);
    writeFileSync(file, (configMap!.data as Record<string, string>)['config.yaml']);
    const r = await run(process.execPath, [join(REPO, 'src/cli.ts'), 'validate', '--config', file]);
    expect(r.code, `sluice validate: ${r.stderr}`).to.equal(0);
  }

  it('passes helm lint, also with every ci/ values file', async () => {
    const plain = await helm(['lint', '--strict', CHART, ...REQUIRED_VALUES]);
    expect(plain.code, plain.stdout + plain.stderr).to.equal(0);
    for (const file of readdirSync(join(CHART, 'ci')).filter((f) => f.endsWith('.yaml'))) {
      const r = await helm(['lint', '--strict', CHART, '--values', join(CHART, 'ci', file)]);
      expect(r.code, `${file}: ${r.stdout}${r.stderr}`).to.equal(0);
    }
  });

  it('refuses to render without a target Service or an image repository, naming the value to set', async () => {
    const cases: [string[], RegExp][] = [
      [['--set', 'image.repository=registry.example.com/sluice'], /discovery\.service is required: set it to the name of the Service/],
      [['--set', 'discovery.service=my-app'], /image\.repository is required: push the image built from the project's Dockerfile/],
    ];
    for (const [args, message] of cases) {
      const r = await helm(['template', 'sluice', CHART, '--namespace', NS, ...args]);
      expect(r.code, r.stdout).to.not.equal(0);
      expect(r.stderr).to.match(message);
    }
  });

  it('warns in the install notes while the admin port is on the Service, not when it is off', async () => {
    const notes = async (args: string[]): Promise<string> => {
      const r = await helm(['install', 'sluice', CHART, '--kubeconfig', env.kubeconfig, '--namespace', NS, '--dry-run=client', ...REQUIRED_VALUES, ...args]);
      expect(r.code, r.stderr).to.equal(0);
      return r.stdout.slice(r.stdout.indexOf('NOTES:'));
    };
    expect(await notes([])).to.match(/WARNING: the admin port \(9901: \/status/);
    expect(await notes(['--set', 'service.admin.enabled=false'])).to.not.include('WARNING');
  });

  it('renders with only the required values into objects the API server accepts', async () => {
    const rendered = await helmTemplate(NS);
    const manifests = parseManifests(rendered);
    expect(manifests.map((m) => m.kind)).to.include.members(['ServiceAccount', 'Role', 'RoleBinding', 'ConfigMap', 'Service', 'Deployment', 'PodDisruptionBudget']);
    expect(manifests.map((m) => m.kind)).to.not.include('HorizontalPodAutoscaler');
    const out = await serverDryRun(rendered);
    expect(out).to.contain('deployment.apps/sluice created (server dry run)');
    await validatesConfig(manifests, 'chart-default');
  });

  it('renders 3 replicas with custom resources into objects the API server accepts', async () => {
    const rendered = await helmTemplate(NS, [
      '--set', 'replicaCount=3',
      '--set', 'resources.requests.cpu=300m', '--set', 'resources.requests.memory=200Mi', '--set', 'resources.limits.memory=400Mi',
      '--set', 'discovery.service=checkout', '--set', 'discovery.port=8080', '--set', 'discovery.api=endpoints',
    ]);
    const manifests = parseManifests(rendered);
    const deployment = find(manifests, 'Deployment');
    expect((deployment.spec as { replicas: number }).replicas).to.equal(3);
    expect(container(deployment).resources).to.deep.include({ requests: { cpu: '300m', memory: '200Mi' } });
    expect((container(deployment).resources as { limits: { memory: string } }).limits.memory).to.equal('400Mi');
    await serverDryRun(rendered);
    await validatesConfig(manifests, 'chart-custom');
  });

  it('renders an HPA instead of a replica count when autoscaling is enabled, and the API server accepts it', async () => {
    const rendered = await helmTemplate(NS, ['--set', 'autoscaling.enabled=true', '--set', 'autoscaling.minReplicas=3', '--set', 'autoscaling.maxReplicas=9']);
    const manifests = parseManifests(rendered);
    const hpa = find(manifests, 'HorizontalPodAutoscaler');
    expect(hpa.spec).to.deep.include({ minReplicas: 3, maxReplicas: 9 });
    expect((find(manifests, 'Deployment').spec as { replicas?: number }).replicas).to.equal(undefined);
    const out = await serverDryRun(rendered);
    expect(out).to.contain('horizontalpodautoscaler.autoscaling/sluice created (server dry run)');
  });

  it('renders every ci/ values file into objects the API server accepts', async () => {
    const files = readdirSync(join(CHART, 'ci')).filter((f) => f.endsWith('.yaml'));
    expect(files.length).to.be.above(0);
    for (const file of files) {
      const rendered = await helmTemplate(NS, ['--values', join(CHART, 'ci', file)]);
      await serverDryRun(rendered);
      await validatesConfig(parseManifests(rendered), `ci-${file}`);
    }
  });

  it('builds deploy/ with kubectl kustomize into objects the API server accepts', async () => {
    const rendered = await kustomizeDeploy();
    const manifests = parseManifests(rendered);
    expect(manifests.map((m) => m.kind)).to.include.members(['ServiceAccount', 'Role', 'RoleBinding', 'ConfigMap', 'Service', 'Deployment', 'PodDisruptionBudget']);
    const out = await serverDryRun(rendered, NS);
    expect(out).to.contain('deployment.apps/sluice created (server dry run)');
    await validatesConfig(manifests, 'deploy');
  });
});
