// The Helm chart and the plain manifests, checked by the tools users run and by a real API
// server (server-side dry run: schema validation, defaulting and admission, nothing stored);
// and the chart's gRPC example run for real: sluice with the config the chart generates, in
// front of gRPC servers behind a Service whose port says appProtocol: grpc.

import { expect } from 'chai';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import type { KubernetesObject } from '@kubernetes/client-node';
import { parse, parseAllDocuments, stringify } from 'yaml';
import { makeCa, makeLeaf, type CertFiles } from '../helpers/certs.ts';
import { eventually } from '../helpers/eventually.ts';
import { BackendNet } from './helpers/backend-net.ts';
import { apply, ensureNamespace, env, kubectl, remove, run } from './helpers/cluster.ts';
import { DiscoverySluice } from './helpers/discovery.ts';
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

interface VolumeMount { name: string; mountPath: string; readOnly?: boolean; subPath?: string }
interface Container { resources: unknown; args?: string[]; ports: { name: string; containerPort: number }[]; volumeMounts: VolumeMount[] }
interface KeyToPath { key: string; path: string }
interface ProjectedSource { secret?: { name: string; items: KeyToPath[] }; configMap?: { name: string; items: KeyToPath[] } }
interface Volume { name: string; configMap?: { name: string }; projected?: { sources: ProjectedSource[] } }
interface PodTemplate { metadata: { annotations: Record<string, string> }; spec: { containers: Container[]; volumes: Volume[] } }
interface ServicePort { name: string; port: number; targetPort: string | number; appProtocol?: string }

function podTemplate(deployment: Manifest): PodTemplate {
  return (deployment.spec as { template: PodTemplate }).template;
}
function container(deployment: Manifest): Container {
  return podTemplate(deployment).spec.containers[0];
}
function servicePorts(manifests: Manifest[]): ServicePort[] {
  return (find(manifests, 'Service').spec as { ports: ServicePort[] }).ports;
}

/** The config.yaml a rendering generated, as text. */
function configText(manifests: Manifest[]): string {
  const configMap = manifests.find((m) => m.kind === 'ConfigMap' && (m.data as Record<string, string> | undefined)?.['config.yaml']);
  expect(configMap, 'a ConfigMap with config.yaml').to.not.equal(undefined);
  return (configMap!.data as Record<string, string>)['config.yaml'];
}

/** The config.yaml a rendering generated, as sluice would read it. */
function generatedConfig(manifests: Manifest[]): Record<string, unknown> {
  return parse(configText(manifests)) as Record<string, unknown>;
}

/** Test PEMs for the files a Secret or ConfigMap puts in the pod, by file name. */
interface Pems { ca: CertFiles; server: CertFiles }
function pemFor(pems: Pems, file: string): Buffer {
  if (file.endsWith('.key')) return readFileSync(pems.server.key);
  return readFileSync(file === 'ca.crt' ? pems.ca.cert : pems.server.cert);
}

/**
 * The sluice container's file system as the kubelet would lay it out under `root`: config.yaml
 * from the ConfigMap and every item of the projected volumes it mounts (test PEMs as contents),
 * with the config's /etc/sluice/... paths moved under `root` too. Returns the config file.
 */
function podFiles(manifests: Manifest[], root: string, pems: Pems): string {
  const template = podTemplate(find(manifests, 'Deployment'));
  for (const mount of template.spec.containers[0].volumeMounts) {
    const volume = template.spec.volumes.find((v) => v.name === mount.name);
    for (const source of volume?.projected?.sources ?? []) {
      for (const item of (source.secret ?? source.configMap)!.items) {
        const file = join(root, mount.mountPath, item.path);
        mkdirSync(dirname(file), { recursive: true });
        writeFileSync(file, pemFor(pems, item.path));
      }
    }
  }
  const file = join(root, 'etc/sluice/config.yaml');
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, configText(manifests).replaceAll(' /etc/sluice/', ` ${root}/etc/sluice/`));
  return file;
}

describe('Helm chart and plain manifests (real kube-apiserver)', () => {
  let dir: string;
  let pems: Pems;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'sluice-manifests-'));
    const ca = makeCa(dir, 'ca');
    pems = { ca, server: makeLeaf(dir, ca, 'server') };
    await ensureNamespace(NS);
    // ci/replicas-resources-values.yaml points discovery at a Service in namespace "store".
    await ensureNamespace('store');
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  /**
   * sluice itself must accept the config.yaml a rendering generates, with the files the pod
   * mounts where the kubelet would put them: a path in the config that no mount provides fails.
   */
  async function validatesConfig(manifests: Manifest[], name: string): Promise<void> {
    const file = podFiles(manifests, join(dir, name), pems);
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

  it('refuses TLS values that cannot work, in one sentence naming the value to set', async () => {
    const cases: [string[], RegExp][] = [
      [['--set', 'tls.enabled=true'], /tls\.enabled needs tls\.secretName: the name of a kubernetes\.io\/tls Secret \(keys tls\.crt and tls\.key\) in namespace manifests/],
      [['--set', 'tls.enabled=true', '--set', 'tls.secretName=sluice-tls', '--set', 'service.appProtocol=kubernetes.io/h2c'], /service\.appProtocol kubernetes\.io\/h2c means cleartext, but tls\.enabled makes the proxy port TLS only/],
      [['--set', 'upstreamTls.ca.configMap=corp-ca', '--set', 'config.upstream.tls.ca=/etc/ssl/ca.crt'], /config\.upstream\.tls\.ca and upstreamTls\.ca both set the backends' CA bundle; keep one/],
      [['--set', 'upstreamTls.ca.configMap=corp-ca', '--set', 'upstreamTls.ca.secret=corp-ca'], /upstreamTls\.ca: set configMap or secret, not both/],
    ];
    for (const [args, message] of cases) {
      const r = await helm(['template', 'sluice', CHART, '--namespace', NS, ...REQUIRED_VALUES, ...args]);
      expect(r.code, `${args.join(' ')}: ${r.stdout}`).to.not.equal(0);
      expect(r.stderr).to.match(message);
    }
    // The schema keeps the generated tls block out of config.*.
    const r = await helm(['template', 'sluice', CHART, '--namespace', NS, ...REQUIRED_VALUES, '--set', 'config.tls.cert=/x']);
    expect(r.code).to.not.equal(0);
    expect(r.stderr).to.match(/additional properties 'tls' not allowed/);
  });

  it('mounts the TLS Secret as a directory and points config.yaml at its files; the API server and sluice accept it', async () => {
    // The Secret as cert-manager writes it (kubernetes.io/tls, the issuing CA as ca.crt): the API
    // server insists on tls.crt and tls.key in such a Secret, the keys the volume asks for.
    const secret = {
      apiVersion: 'v1', kind: 'Secret', type: 'kubernetes.io/tls', metadata: { name: 'sluice-tls', namespace: NS },
      data: { 'tls.crt': pemFor(pems, 'tls.crt').toString('base64'), 'tls.key': pemFor(pems, 'tls.key').toString('base64'), 'ca.crt': pemFor(pems, 'ca.crt').toString('base64') },
    } as KubernetesObject;
    await apply(secret);
    try {
      const tlsValues = ['--set', 'tls.enabled=true', '--set', 'tls.secretName=sluice-tls', '--set', 'tls.clientCA.enabled=true'];
      const rendered = await helmTemplate(NS, [...tlsValues, '--set', 'tls.minVersion=TLSv1.3']);
      const manifests = parseManifests(rendered);
      expect(generatedConfig(manifests).tls).to.deep.equal({
        cert: '/etc/sluice/tls/tls.crt', key: '/etc/sluice/tls/tls.key', clientCA: '/etc/sluice/tls/ca.crt', minVersion: 'TLSv1.3',
      });
      const template = podTemplate(find(manifests, 'Deployment'));
      // A directory mount: a subPath mount would never see the renewed Secret.
      expect(container(find(manifests, 'Deployment')).volumeMounts).to.deep.include({ name: 'tls', mountPath: '/etc/sluice/tls', readOnly: true });
      const sources = template.spec.volumes.find((v) => v.name === 'tls')?.projected?.sources ?? [];
      const items = sources.flatMap((source) => source.secret!.items.map((item) => ({ secret: source.secret!.name, ...item })));
      expect(items).to.have.deep.members([
        { secret: 'sluice-tls', key: 'tls.crt', path: 'tls.crt' },
        { secret: 'sluice-tls', key: 'tls.key', path: 'tls.key' },
        { secret: 'sluice-tls', key: 'ca.crt', path: 'ca.crt' },
      ]);
      // The port says what it speaks, on the pod and on the Service.
      expect(container(find(manifests, 'Deployment')).ports.map((p) => p.name)).to.deep.equal(['https', 'admin']);
      expect(servicePorts(manifests)[0]).to.include({ name: 'https', targetPort: 'https' });
      await serverDryRun(rendered);
      await validatesConfig(manifests, 'chart-tls');
      // tls applies only on restart, so changing it rolls the pods.
      const restartChecksum = (m: Manifest[]): string => podTemplate(find(m, 'Deployment')).metadata.annotations['checksum/restart-config'];
      const tls12 = parseManifests(await helmTemplate(NS, [...tlsValues, '--set', 'tls.minVersion=TLSv1.2']));
      expect(restartChecksum(tls12)).to.not.equal(restartChecksum(manifests));
    } finally {
      await remove(secret);
    }
  });

  it('puts service.appProtocol on the proxy port and passes gRPC settings into config.yaml', async () => {
    expect(servicePorts(parseManifests(await helmTemplate(NS)))[0]).to.not.have.property('appProtocol');
    const rendered = await helmTemplate(NS, [
      '--set', 'service.appProtocol=kubernetes.io/h2c', '--set', 'config.upstream.protocol=h2c',
      '--set', 'config.healthCheck.type=grpc', '--set', 'config.healthCheck.grpcService=greeter.v1.Greeter', '--set', 'config.timeouts.idle=10m',
    ]);
    const manifests = parseManifests(rendered);
    expect(servicePorts(manifests)[0]).to.include({ name: 'http', appProtocol: 'kubernetes.io/h2c' });
    const config = generatedConfig(manifests) as { upstream: { protocol: string }; healthCheck: Record<string, unknown>; timeouts: Record<string, unknown> };
    expect(config.upstream.protocol).to.equal('h2c');
    expect(config.healthCheck).to.include({ type: 'grpc', grpcService: 'greeter.v1.Greeter' });
    expect(config.timeouts.idle).to.equal('10m');
    // The API server validates appProtocol's syntax.
    const out = await serverDryRun(rendered);
    expect(out).to.contain('service/sluice created (server dry run)');
    await validatesConfig(manifests, 'chart-grpc-settings');
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

// ---- the gRPC example, run ---------------------------------------------------------------

const GRPC_NS = 'grpc-example';
const EXAMPLE = join(REPO, 'examples/grpc');

/**
 * gRPC servers for the pods, run inside the backends' network namespace (`node -e`, resolving
 * @grpc/grpc-js from the repository): one per address on port 50051, test.Echo/Unary answers
 * with the server's address, grpc.health.v1.Health/Check answers SERVING. Prints "ready".
 */
const GRPC_PODS = `
import * as grpc from '@grpc/grpc-js';
const raw = (b) => b;
const unary = (path) => ({ path, requestStream: false, responseStream: false, requestSerialize: raw, requestDeserialize: raw, responseSerialize: raw, responseDeserialize: raw });
await Promise.all(process.argv.slice(1).map((address) => new Promise((resolve, reject) => {
  const server = new grpc.Server();
  server.addService({ Unary: unary('/test.Echo/Unary') }, { Unary: (call, done) => done(null, Buffer.from(address)) });
  server.addService({ Check: unary('/grpc.health.v1.Health/Check') }, { Check: (call, done) => done(null, Buffer.from([0x08, 1])) });
  server.bindAsync(address + ':50051', grpc.ServerCredentials.createInsecure(), (err) => (err ? reject(err) : resolve()));
})));
process.stdout.write('ready\\n');
`;

const raw = (b: Buffer): Buffer => b;
function unaryCall(client: grpc.Client): Promise<{ value?: string; error?: grpc.ServiceError }> {
  return new Promise((resolve) => {
    client.makeUnaryRequest('/test.Echo/Unary', raw, raw, Buffer.from('hi'), (error, value) => resolve(error ? { error } : { value: value?.toString() }));
  });
}

describe('The chart\'s gRPC example: sluice in front of a gRPC Service (real kube-apiserver, real gRPC servers)', () => {
  let dir: string;
  let net: BackendNet;
  let pods: ChildProcess | undefined;
  let sluice: DiscoverySluice | undefined;
  const clients: grpc.Client[] = [];
  const objects: KubernetesObject[] = [];

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'sluice-grpc-example-'));
    await ensureNamespace(GRPC_NS);
    net = await BackendNet.create(3);
    const child = spawn('ip', ['netns', 'exec', net.ns, process.execPath, '--input-type=module', '-e', GRPC_PODS, ...net.addresses], { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'] });
    pods = child;
    let output = '';
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => { output += chunk; });
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => { output += chunk; });
    await eventually(() => {
      if (child.exitCode !== null) throw new Error(`gRPC servers exited: ${output}`);
      return output.includes('ready');
    }, 'gRPC servers in the backends\' namespace', 15_000);
  });

  after(async () => {
    for (const c of clients) c.close();
    await sluice?.stop();
    await stopPods();
    await net?.stop();
    for (const o of objects.reverse()) await remove(o);
    rmSync(dir, { recursive: true, force: true });
  });

  async function stopPods(): Promise<void> {
    const child = pods;
    pods = undefined;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
  }

  it('balances the calls of one TLS client channel over every pod, speaking h2c because the Service port says appProtocol: grpc', async () => {
    // examples/grpc/greeter.yaml as it is: the API server accepts all of it, and its Service is
    // the target sluice discovers.
    const example = readFileSync(join(EXAMPLE, 'greeter.yaml'), 'utf8');
    const dryRun = await kubectl(['apply', '--dry-run=server', '--namespace', GRPC_NS, '-f', '-'], example);
    expect(dryRun.code, dryRun.stderr).to.equal(0);
    const svc = parseAllDocuments(example).map((d) => d.toJS() as KubernetesObject).find((o) => o.kind === 'Service')!;
    svc.metadata!.namespace = GRPC_NS;
    const stored = await apply(svc) as KubernetesObject & { spec: { ports: { name: string; appProtocol?: string }[] } };
    objects.push(svc);
    const port = stored.spec.ports[0];
    expect(port).to.include({ name: 'grpc', appProtocol: 'grpc' });
    // What the EndpointSlice controller writes for it: the pods' addresses, the port's name and
    // appProtocol copied from the Service, the pods' port number.
    const slice = {
      apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice',
      metadata: { name: 'greeter-abcde', namespace: GRPC_NS, labels: { 'kubernetes.io/service-name': 'greeter' } },
      addressType: 'IPv4',
      ports: [{ name: port.name, port: 50051, protocol: 'TCP', appProtocol: port.appProtocol }],
      endpoints: net.addresses.map((ip, i) => ({ addresses: [ip], conditions: { ready: true, serving: true, terminating: false }, targetRef: { kind: 'Pod', name: `greeter-${i}`, namespace: GRPC_NS } })),
    } as KubernetesObject;
    await apply(slice);
    objects.push(slice);

    // examples/grpc/values.yaml with TLS and mTLS on, and upstream.protocol back at http1: only the
    // port's appProtocol can make sluice speak h2c to the pods, and HTTP/1.1 would fail every call.
    // (Not helmTemplate: its --set discovery.service would win over the example's own value.)
    const r = await helm([
      'template', 'sluice', CHART, '--namespace', GRPC_NS, '--set', 'image.repository=registry.example.com/platform/sluice',
      '--values', join(EXAMPLE, 'values.yaml'), '--set', 'config.upstream.protocol=http1',
      '--set', 'tls.enabled=true', '--set', 'tls.secretName=sluice-tls', '--set', 'tls.clientCA.enabled=true',
    ]);
    expect(r.code, r.stderr).to.equal(0);
    const rendered = r.stdout;
    await serverDryRun(rendered);
    const ca = makeCa(dir, 'ca');
    const pems = { ca, server: makeLeaf(dir, ca, 'server') };
    const configFile = podFiles(parseManifests(rendered), join(dir, 'pod'), pems);
    // The pod's listeners, moved to loopback ports for this machine.
    const config = parse(readFileSync(configFile, 'utf8')) as Record<string, unknown> & { admin: { listen: string } };
    config.listen = '127.0.0.1:0';
    config.admin.listen = '127.0.0.1:0';
    sluice = await new DiscoverySluice(stringify(config)).startSynced();
    await sluice.waitForHealthy(3);

    const client = makeClient(sluice.proxy, makeLeaf(dir, ca, 'client', 'client'));
    const answers = new Map<string, number>();
    for (let batch = 0; batch < 10; batch++) {
      const results = await Promise.all(Array.from({ length: 30 }, () => unaryCall(client)));
      for (const r of results) {
        expect(r.error?.message).to.equal(undefined);
        answers.set(r.value!, (answers.get(r.value!) ?? 0) + 1);
      }
    }
    // One client channel, every pod: round robin gives each its 100.
    expect([...answers.keys()].sort()).to.deep.equal([...net.addresses].sort());
    for (const [address, count] of answers) expect(count, address).to.be.within(90, 110);
    // /status counts the same, per discovered backend: what the docs tell users to look at.
    const backends = (await sluice.status()).backends;
    for (const b of backends) {
      expect(b.source).to.equal('kubernetes');
      expect(b.requests, b.url).to.be.within(90, 110);
    }

    // mTLS: without a client certificate the handshake fails.
    const anonymous = await unaryCall(makeClient(sluice.proxy));
    expect(anonymous.error?.code).to.equal(grpc.status.UNAVAILABLE);

    // No pod left: sluice answers the call itself, UNAVAILABLE (14) in gRPC form.
    await stopPods();
    const down = await unaryCall(client);
    expect(down.error?.code).to.equal(grpc.status.UNAVAILABLE);
    expect(down.error?.details).to.match(/Bad Gateway|no healthy backend/);

    function makeClient(address: string, cert?: CertFiles): grpc.Client {
      const credentials = grpc.credentials.createSsl(readFileSync(ca.cert), cert ? readFileSync(cert.key) : null, cert ? readFileSync(cert.cert) : null);
      // The name the test certificate carries (an IP as TLS server name is deprecated in Node).
      const c = new grpc.Client(address, credentials, { 'grpc.ssl_target_name_override': 'localhost', 'grpc.default_authority': 'localhost' });
      clients.push(c);
      return c;
    }
  });
});
