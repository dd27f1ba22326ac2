import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, symlinkSync, copyFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { promisify } from 'node:util';
import { eventually } from '../helpers/eventually.ts';
import { makeCa, makeLeaf, type CertFiles } from '../helpers/certs.ts';
import { harnessPerTest } from '../helpers/harness.ts';
import { H2Client } from '../helpers/h2-client.ts';
import { SluiceProcess, testConfig } from '../helpers/sluice-process.ts';

const run = promisify(execFile);

describe('TLS on the proxy listener (e2e)', () => {
  const h = harnessPerTest();
  let dir: string;
  let ca: CertFiles;
  let server: CertFiles;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'sluice-tls-'));
    ca = makeCa(dir, 'ca');
    server = makeLeaf(dir, ca, 'server');
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  const origin = (): string => `https://${h.sluice.proxy}`;
  const tlsYaml = (cert: string, key: string, more = ''): string => `tls:\n  cert: ${cert}\n  key: ${key}\n${more}`;

  it('speaks HTTP/2 or HTTP/1.1 as ALPN decides: curl --http2 and --http1.1', async () => {
    await h.start(1, { extra: tlsYaml(server.cert, server.key) });
    const curl = (version: string): Promise<{ stdout: string }> => run('curl', ['-sS', version, '--cacert', ca.cert, '-o', '/dev/null', '-w', '%{http_version} %{http_code}', `${origin()}/`]);
    expect((await curl('--http2')).stdout).to.equal('2 200');
    expect((await curl('--http1.1')).stdout).to.equal('1.1 200');
  });

  it('tells the backend the client came over https', async () => {
    await h.start(1, { extra: tlsYaml(server.cert, server.key) });
    const client = await H2Client.open(origin(), { ca: readFileSync(ca.cert) });
    try {
      const echo = JSON.parse((await client.request('/echo')).text) as { headers: Record<string, string> };
      expect(echo.headers['x-forwarded-proto']).to.equal('https');
      expect(echo.headers.host).to.equal(h.sluice.proxy);
    } finally {
      await client.close();
    }
  });

  it('picks up a certificate swapped on disk (a Kubernetes Secret volume) while an open connection goes on', async () => {
    // The Secret volume layout: tls.crt -> ..data/tls.crt, ..data -> a timestamped directory.
    const volume = join(dir, 'volume');
    const installVersion = (name: string, files: CertFiles): void => {
      mkdirSync(join(volume, name));
      copyFileSync(files.cert, join(volume, name, 'tls.crt'));
      copyFileSync(files.key, join(volume, name, 'tls.key'));
      symlinkSync(name, join(volume, '..data_tmp'));
      renameSync(join(volume, '..data_tmp'), join(volume, '..data'));
    };
    mkdirSync(volume);
    installVersion('..v1', server);
    symlinkSync('..data/tls.crt', join(volume, 'tls.crt'));
    symlinkSync('..data/tls.key', join(volume, 'tls.key'));
    await h.start(1, { extra: tlsYaml(join(volume, 'tls.crt'), join(volume, 'tls.key')) });

    const ca2 = makeCa(dir, 'ca-next');
    const next = makeLeaf(dir, ca2, 'server-next');
    const trust = { ca: [readFileSync(ca.cert), readFileSync(ca2.cert)] };
    const open = await H2Client.open(origin(), trust);
    try {
      expect((await open.request('/')).status).to.equal(200);
      const peer = (): string => (open.session.socket as unknown as import('node:tls').TLSSocket).getPeerCertificate().fingerprint256;
      expect(peer()).to.equal(server.fingerprint);

      installVersion('..v2', next);
      await eventually(async () => await presented(h.sluice.proxy, trust.ca) === next.fingerprint, 'new connections to get the new certificate');
      await h.sluice.waitForLog((l) => l.msg === 'TLS certificate reloaded', 'the reload log line');
      // The connection opened before the swap keeps its session and serves on.
      expect((await open.request('/')).status).to.equal(200);
      expect(peer()).to.equal(server.fingerprint);
    } finally {
      await open.close();
    }
  });

  it('keeps the running certificate when the new files do not load', async () => {
    const volume = join(dir, 'broken');
    mkdirSync(volume);
    copyFileSync(server.cert, join(volume, 'tls.crt'));
    copyFileSync(server.key, join(volume, 'tls.key'));
    await h.start(1, { extra: tlsYaml(join(volume, 'tls.crt'), join(volume, 'tls.key')) });
    const other = makeLeaf(dir, ca, 'mismatch');
    // A certificate whose key is not the one beside it.
    copyFileSync(other.cert, join(volume, 'tls.crt'));
    await h.sluice.waitForLog((l) => l.msg === 'new TLS certificate not loaded; keeping the running one', 'the rejection');
    expect(await presented(h.sluice.proxy, [readFileSync(ca.cert)])).to.equal(server.fingerprint);
  });

  it('with clientCA, rejects a client without a certificate and serves one with a certificate it signed', async () => {
    const client = makeLeaf(dir, ca, 'client', 'client');
    await h.start(1, { extra: tlsYaml(server.cert, server.key, `  clientCA: ${ca.cert}\n`) });
    const get = (auth: { cert?: Buffer; key?: Buffer }): Promise<number> => new Promise((resolve, reject) => {
      const req = httpsRequest(`${origin()}/`, { ca: readFileSync(ca.cert), agent: false, ...auth }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      });
      req.on('error', reject);
      req.end();
    });
    let refused: Error | undefined;
    await get({}).catch((err: Error) => { refused = err; });
    expect(refused?.message, 'a client without a certificate').to.match(/certificate required|alert|socket hang up|ECONNRESET/i);
    expect(await get({ cert: readFileSync(client.cert), key: readFileSync(client.key) })).to.equal(200);
  });

  it('refuses a client below tls.minVersion', async () => {
    await h.start(1, { extra: tlsYaml(server.cert, server.key, '  minVersion: TLSv1.3\n') });
    const handshake = (maxVersion: 'TLSv1.2' | 'TLSv1.3'): Promise<string> => new Promise((resolve, reject) => {
      const port = Number(h.sluice.proxy.slice(h.sluice.proxy.lastIndexOf(':') + 1));
      const socket = tlsConnect({ host: '127.0.0.1', port, ca: readFileSync(ca.cert), maxVersion }, () => {
        const version = socket.getProtocol() ?? '';
        socket.end();
        resolve(version);
      });
      socket.on('error', reject);
    });
    expect(await handshake('TLSv1.3')).to.equal('TLSv1.3');
    let refused: Error | undefined;
    await handshake('TLSv1.2').catch((err: Error) => { refused = err; });
    expect(refused?.message).to.match(/protocol version|alert/i);
  });

  it('will not start when the certificate and key do not belong together: one sentence, exit 1', async () => {
    const other = makeLeaf(dir, ca, 'other');
    const sluice = new SluiceProcess(testConfig(['http://127.0.0.1:1'], tlsYaml(server.cert, other.key)));
    try {
      expect(await sluice.spawn().waitForExit()).to.equal(1);
      expect(sluice.stderr).to.match(/^sluice: the TLS certificate ".*" and key ".*" do not load: .*\.\n$/);
    } finally {
      await sluice.stop();
    }
  });
});

/** The fingerprint of the certificate a new TLS connection is shown. */
function presented(address: string, ca: Buffer[]): Promise<string> {
  const port = Number(address.slice(address.lastIndexOf(':') + 1));
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({ host: '127.0.0.1', port, ca, ALPNProtocols: ['http/1.1'] }, () => {
      const fingerprint = socket.getPeerCertificate().fingerprint256;
      socket.end();
      resolve(fingerprint);
    });
    socket.on('error', reject);
  });
}
