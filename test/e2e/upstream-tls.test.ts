// https:// backends: verified against upstream.tls.ca, with a client certificate when the backend
// asks for one, and never silently unverified.

import { expect } from 'chai';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import type { TLSSocket } from 'node:tls';
import { join } from 'node:path';
import { request } from 'undici';
import { WebSocket, WebSocketServer } from 'ws';
import { makeCa, makeLeaf, type CertFiles } from '../helpers/certs.ts';
import { eventually } from '../helpers/eventually.ts';
import { closeAbruptly, listenOnLoopback, trackSockets } from '../helpers/loopback.ts';
import { SluiceProcess, testPreamble } from '../helpers/sluice-process.ts';

describe('upstream TLS (e2e)', () => {
  let dir: string;
  let ca: CertFiles;
  let server: Server | undefined;
  let sluice: SluiceProcess | undefined;
  const sockets = new Set<Socket>();

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'sluice-upstream-tls-'));
    ca = makeCa(dir, 'backend-ca');
  });
  after(() => rmSync(dir, { recursive: true, force: true }));
  afterEach(async () => {
    await sluice?.stop();
    sluice = undefined;
    if (server) await closeAbruptly(server, sockets);
    server = undefined;
  });

  /** An https backend on 127.0.0.1 with a certificate from the test CA; `clientCa` makes it require client certificates. */
  async function httpsBackend(clientCa?: CertFiles): Promise<string> {
    const leaf = makeLeaf(dir, ca, `backend-${Date.now()}`);
    server = createServer({
      cert: readFileSync(leaf.cert), key: readFileSync(leaf.key),
      ...(clientCa ? { ca: readFileSync(clientCa.cert), requestCert: true, rejectUnauthorized: true } : {}),
    }, (req, res) => res.end(req.url === '/health' ? 'ok' : `tls backend, client cert: ${(req.socket as TLSSocket).getPeerCertificate().subject?.CN ?? 'none'}\n`));
    trackSockets(server, sockets, 'secureConnection');
    return `https://127.0.0.1:${await listenOnLoopback(server)}`;
  }

  function config(url: string, tls: string[]): string {
    return [...testPreamble(1), 'upstream:', '  tls:', ...tls.map((l) => `    ${l}`), 'backends:', `  - url: ${url}`, ''].join('\n');
  }

  it('verifies an https backend against upstream.tls.ca and proxies to it', async () => {
    const url = await httpsBackend();
    sluice = await new SluiceProcess(config(url, [`ca: ${ca.cert}`])).start(1);
    const res = await request(sluice.proxyUrl + '/');
    expect(res.statusCode).to.equal(200);
    expect(await res.body.text()).to.equal('tls backend, client cert: none\n');
  });

  it('does not trust a backend whose certificate the configured CA did not sign', async () => {
    const url = await httpsBackend();
    const other = makeCa(dir, 'other-ca');
    sluice = await new SluiceProcess(config(url, [`ca: ${other.cert}`])).start(0);
    const probe = await eventually(async () => (await sluice!.backend(url))?.lastProbe ?? undefined, 'a probe');
    expect(probe.ok).to.equal(false);
    expect(probe.error).to.match(/CERT|VERIF|SIGNATURE|certificate/i);
    const res = await request(sluice.proxyUrl + '/');
    expect(res.statusCode).to.equal(503);
    await res.body.text();
  });

  it('presents a client certificate to a backend that requires one', async () => {
    const clientCa = makeCa(dir, 'client-ca');
    const client = makeLeaf(dir, clientCa, 'sluice-client', 'client');
    const url = await httpsBackend(clientCa);
    sluice = await new SluiceProcess(config(url, [`ca: ${ca.cert}`, `cert: ${client.cert}`, `key: ${client.key}`])).start(1);
    const res = await request(sluice.proxyUrl + '/');
    expect(await res.body.text()).to.equal('tls backend, client cert: sluice-client\n');
  });

  it('tunnels a WebSocket to an https backend with the same CA and client certificate as requests (wss to the backend)', async () => {
    const clientCa = makeCa(dir, 'ws-client-ca');
    const client = makeLeaf(dir, clientCa, 'sluice-ws-client', 'client');
    const url = await httpsBackend(clientCa);
    const wss = new WebSocketServer({ server: server! });
    wss.on('connection', (ws, req) => ws.on('message', (data) => ws.send(`${(req.socket as TLSSocket).getPeerCertificate().subject?.CN} says ${String(data)}`)));
    sluice = await new SluiceProcess(config(url, [`ca: ${ca.cert}`, `cert: ${client.cert}`, `key: ${client.key}`])).start(1);
    const ws = new WebSocket(sluice.proxyUrl.replace('http:', 'ws:') + '/');
    try {
      const reply = await new Promise<string>((resolve, reject) => {
        ws.once('open', () => ws.send('hello'));
        ws.once('message', (data) => resolve(String(data)));
        ws.once('unexpected-response', (_req, res) => reject(new Error(`upgrade refused: ${res.statusCode}`)));
        ws.once('error', reject);
      });
      expect(reply).to.equal('sluice-ws-client says hello');
    } finally {
      ws.terminate();
      wss.close();
    }
  });

  it('connects without verification only when told to, and says so in the log', async () => {
    const url = await httpsBackend();
    sluice = await new SluiceProcess(config(url, ['insecureSkipVerify: true'])).start(1);
    const res = await request(sluice.proxyUrl + '/');
    expect(res.statusCode).to.equal(200);
    await res.body.text();
    expect(sluice.logs.some((l) => l.msg === 'backend certificates are not verified')).to.equal(true);
  });
});
