import { expect } from 'chai';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SluiceError } from '../../src/errors.ts';
import { loadKubeConfig } from '../../src/sources/kubernetes/kube-client.ts';

function kubeconfig(contexts: string[], current = contexts[0], server = 'https://127.0.0.1:6443'): string {
  return [
    'apiVersion: v1',
    'kind: Config',
    'clusters:',
    '- name: c',
    '  cluster:',
    `    server: ${server}`,
    'users:',
    '- name: u',
    '  user:',
    '    token: abc',
    'contexts:',
    ...contexts.flatMap((name) => [`- name: ${name}`, '  context:', '    cluster: c', '    user: u', '    namespace: team']),
    current ? `current-context: ${current}` : '',
    '',
  ].join('\n');
}

function failure(fn: () => unknown): SluiceError {
  try {
    fn();
  } catch (err) {
    if (err instanceof SluiceError) return err;
    throw err;
  }
  throw new Error('expected a SluiceError');
}

describe('Kubernetes credentials', () => {
  let dir: string;
  beforeEach(() => { dir = mkdtempSync(join(tmpdir(), 'sluice-kubeconfig-')); });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('uses --kubeconfig with its current context, and namespace "default" outside a cluster', () => {
    const file = join(dir, 'config');
    writeFileSync(file, kubeconfig(['one', 'two'], 'two'));
    const { info } = loadKubeConfig({ kubeconfig: file }, { KUBERNETES_SERVICE_HOST: '10.96.0.1' });
    expect(info).to.deep.equal({ server: 'https://127.0.0.1:6443', credentials: `kubeconfig ${file} (context two)`, defaultNamespace: 'default', inCluster: false });
  });

  it('switches to the --context given', () => {
    const file = join(dir, 'config');
    writeFileSync(file, kubeconfig(['one', 'two'], 'two'));
    expect(loadKubeConfig({ kubeconfig: file, context: 'one' }, {}).info.credentials).to.equal(`kubeconfig ${file} (context one)`);
  });

  it('names the missing --kubeconfig file, exit code 2', () => {
    const err = failure(() => loadKubeConfig({ kubeconfig: join(dir, 'nope') }, {}));
    expect(err.exitCode).to.equal(2);
    expect(err.message).to.equal(`cannot read kubeconfig ${join(dir, 'nope')} (--kubeconfig): no such file`);
  });

  it('lists the contexts when --context names one that does not exist', () => {
    const file = join(dir, 'config');
    writeFileSync(file, kubeconfig(['one', 'two']));
    const err = failure(() => loadKubeConfig({ kubeconfig: file, context: 'three' }, {}));
    expect(err.exitCode).to.equal(2);
    expect(err.message).to.equal(`kubeconfig ${file} has no context "three" (it has: one, two)`);
  });

  it('rejects a file that is not a kubeconfig in one sentence', () => {
    const file = join(dir, 'config');
    writeFileSync(file, '');
    expect(failure(() => loadKubeConfig({ kubeconfig: file }, {})).message).to.equal(`cannot use kubeconfig ${file}: the file is empty`);
    writeFileSync(file, 'foo: bar\n');
    expect(failure(() => loadKubeConfig({ kubeconfig: file }, {})).message).to.equal(`kubeconfig ${file} defines no contexts; it is not a usable kubeconfig`);
    writeFileSync(file, 'clusters: [oops');
    expect(failure(() => loadKubeConfig({ kubeconfig: file }, {})).message).to.match(new RegExp(`^cannot use kubeconfig ${file}: `));
  });

  it('asks for --context when there is no current context', () => {
    const file = join(dir, 'config');
    writeFileSync(file, kubeconfig(['one'], ''));
    expect(failure(() => loadKubeConfig({ kubeconfig: file }, {})).message).to.equal(`kubeconfig ${file} has no current-context; pass --context NAME`);
  });

  it('merges $KUBECONFIG files, skipping missing ones; the first file wins', () => {
    const a = join(dir, 'a');
    const b = join(dir, 'b');
    writeFileSync(a, kubeconfig(['one']));
    writeFileSync(b, kubeconfig(['one', 'other'], 'other'));
    const { info, kc } = loadKubeConfig({}, { KUBECONFIG: [join(dir, 'missing'), a, b].join(':') });
    expect(info.credentials).to.equal(`kubeconfig ${a}:${b} (context one)`);
    expect(kc.getContexts().map((c) => c.name)).to.deep.equal(['one', 'other']);
  });

  it('says which $KUBECONFIG files are missing when none exists', () => {
    const err = failure(() => loadKubeConfig({}, { KUBECONFIG: join(dir, 'x') }));
    expect(err.message).to.equal(`no kubeconfig found: none of the files in $KUBECONFIG exist (${join(dir, 'x')})`);
  });

  it('explains every place it looked when there are no credentials at all', () => {
    const err = failure(() => loadKubeConfig({}, { HOME: dir }));
    expect(err.exitCode).to.equal(2);
    expect(err.message).to.equal(`no Kubernetes credentials: not running in a cluster (KUBERNETES_SERVICE_HOST is unset), no --kubeconfig, $KUBECONFIG is unset and ${join(dir, '.kube', 'config')} does not exist`);
  });

  it('uses ~/.kube/config when nothing else is given', () => {
    const kube = join(dir, '.kube');
    mkdirSync(kube);
    writeFileSync(join(kube, 'config'), kubeconfig(['one']));
    expect(loadKubeConfig({}, { HOME: dir }).info.credentials).to.equal(`kubeconfig ${join(kube, 'config')} (context one)`);
  });

  it('refuses a plain-http server unless TLS verification is explicitly skipped', () => {
    const file = join(dir, 'config');
    writeFileSync(file, kubeconfig(['one'], 'one', 'http://127.0.0.1:8001'));
    expect(failure(() => loadKubeConfig({ kubeconfig: file }, {})).message).to.contain('uses plain http (http://127.0.0.1:8001)');
  });

  it('names an unreadable certificate-authority file', () => {
    const file = join(dir, 'config');
    writeFileSync(file, kubeconfig(['one']).replace('    server:', `    certificate-authority: ca.crt\n    server:`));
    expect(failure(() => loadKubeConfig({ kubeconfig: file }, {})).message).to.equal(`kubeconfig ${file}: the certificate-authority file ${join(dir, 'ca.crt')} is not readable`);
  });

  it('wants a service account token in a cluster unless a kubeconfig is given', () => {
    const err = failure(() => loadKubeConfig({}, { KUBERNETES_SERVICE_HOST: '10.96.0.1', KUBERNETES_SERVICE_PORT: '443' }));
    expect(err.exitCode).to.equal(2);
    expect(err.message).to.equal('running in a cluster (KUBERNETES_SERVICE_HOST is set) but the service account token /var/run/secrets/kubernetes.io/serviceaccount/token is not readable; mount a service account token or pass --kubeconfig');
  });
});
