// Issue 7, failure 4: an upgrade to a backend that never answers waited forever and leaked both
// sockets and an `inflight` count; a tunnel whose client had gone while the backend kept its side
// open stayed in flight forever; SIGTERM always waited the whole drainTimeout and clients saw
// close code 1006. Now the 101 must come within timeouts.response, a tunnel ends halfClose after
// its first side ended or after tunnelIdle of silence, and SIGTERM sends close 1001 both ways.

import { expect } from 'chai';
import { WebSocket } from 'ws';
import { request } from 'undici';
import { eventually } from '../helpers/eventually.ts';
import { cleanupPerTest, RawClient, startSluice, steadyConfig } from '../helpers/raw-http.ts';
import type { SluiceProcess } from '../helpers/sluice-process.ts';
import { UpgradeBackend, upgradeRequest } from '../helpers/upgrade-backend.ts';

describe('WebSocket tunnel lifetime (e2e)', () => {
  const cleanup = cleanupPerTest();

  async function setUp(timeouts: string, extra = ''): Promise<{ backend: UpgradeBackend; sluice: SluiceProcess; inflight: () => Promise<number> }> {
    const backend = cleanup.add(await new UpgradeBackend().start(), (b) => b.kill());
    const sluice = await startSluice(cleanup, steadyConfig([backend.url], `timeouts:\n${timeouts}\n${extra}`), 1);
    return { backend, sluice, inflight: async () => (await sluice.status()).backends[0].inflight };
  }

  async function tunnel(address: string, path: string): Promise<RawClient> {
    const client = cleanup.add(await RawClient.open(address), (c) => c.destroy());
    client.write(upgradeRequest(path));
    await client.waitFor(/^HTTP\/1\.1 101 [^]*?\r\n\r\n/, 'the 101');
    return client;
  }

  it('ends a tunnel halfClose after the client half-closed while the backend keeps its side open', async () => {
    // Only halfClose can end this tunnel: tunnelIdle is an hour.
    const { backend, sluice, inflight } = await setUp('  halfClose: 500ms\n  tunnelIdle: 1h');
    const client = await tunnel(sluice.proxy, '/open');
    client.write('ping');
    await client.waitFor(/\r\n\r\nping$/, 'the echo through the tunnel');
    expect(await inflight()).to.equal(1);
    client.socket.end();
    await eventually(() => backend.heldClosed === 1, 'the half-close to reach the backend');
    await client.waitForClose('sluice to end the half-closed tunnel');
    await eventually(async () => (await inflight()) === 0, 'inflight to return to 0');
  });

  it('ends a tunnel halfClose after the backend half-closed while the client keeps its side open', async () => {
    const { sluice, inflight } = await setUp('  halfClose: 500ms\n  tunnelIdle: 1h');
    const client = await tunnel(sluice.proxy, '/close');
    await eventually(async () => (await inflight()) === 0, 'inflight to return to 0');
    // The client's side is gone too: writing to it fails.
    await eventually(() => {
      client.write('x');
      return client.closed || client.error !== undefined;
    }, 'the client side of the tunnel to be closed', 10_000, 100);
  });

  it('ends a silent tunnel after tunnelIdle', async () => {
    const { backend, sluice, inflight } = await setUp('  halfClose: 1h\n  tunnelIdle: 500ms');
    const client = await tunnel(sluice.proxy, '/open');
    expect(await inflight()).to.equal(1);
    await client.waitForClose('sluice to end the idle tunnel');
    await eventually(() => backend.heldClosed === 1, 'the backend side to be closed');
    await eventually(async () => (await inflight()) === 0, 'inflight to return to 0');
  });

  it('answers 504 when the backend never answers the upgrade within timeouts.response, and inflight returns to 0', async () => {
    const { backend, sluice, inflight } = await setUp('  response: 500ms');
    const client = cleanup.add(await RawClient.open(sluice.proxy), (c) => c.destroy());
    client.write(upgradeRequest('/never'));
    const [res] = await client.waitForResponses(1, 'the 504');
    expect(res.status).to.equal(504);
    await eventually(() => backend.heldClosed === 1, 'sluice to close the upstream connection');
    await eventually(async () => (await inflight()) === 0, 'inflight to return to 0');
  });

  for (const [how, leave] of [
    ['closes its connection (FIN)', (c: RawClient) => c.socket.end()],
    ['resets its connection', (c: RawClient) => c.socket.resetAndDestroy()],
  ] as const) {
    it(`releases an upgrade whose client ${how} before the backend answers`, async () => {
      // timeouts.response is an hour: only noticing the client leave can release this upgrade.
      const { backend, sluice, inflight } = await setUp('  response: 1h');
      const client = cleanup.add(await RawClient.open(sluice.proxy), (c) => c.destroy());
      client.write(upgradeRequest('/never'));
      await eventually(() => backend.upgrades.length === 1, 'the upgrade to reach the backend');
      expect(await inflight()).to.equal(1);
      leave(client);
      await eventually(() => backend.heldClosed === 1, 'sluice to close the upstream connection');
      await eventually(async () => (await inflight()) === 0, 'inflight to return to 0');
    });
  }

  it('on SIGTERM closes open tunnels with 1001 both ways once HTTP requests are done, and exits long before drainTimeout', async () => {
    const { backend, sluice } = await setUp('  halfClose: 1s', 'shutdown:\n  drainTimeout: 1m');
    const ws = new WebSocket(sluice.proxyUrl.replace('http:', 'ws:') + '/ws');
    cleanup.add(ws, (w) => w.terminate());
    const messages: string[] = [];
    let closeCode: number | undefined;
    ws.on('message', (data) => messages.push(data.toString()));
    ws.on('close', (code) => { closeCode = code; });
    ws.on('error', () => {});
    await eventually(() => messages.includes('hello'), 'the greeting through the tunnel');
    const slow = request(sluice.proxyUrl + '/slow?ms=1500').then(async (res) => {
      const body = await res.body.text();
      return { status: res.statusCode, body, tunnelOpen: closeCode === undefined };
    });
    await eventually(async () => (await sluice.status()).backends[0].inflight === 2, 'the slow request and the tunnel in flight');

    sluice.signal('SIGTERM');
    const answered = await slow;
    expect(answered.status).to.equal(200);
    expect(answered.tunnelOpen, 'the tunnel was still open when the in-flight request finished').to.equal(true);
    await eventually(() => closeCode !== undefined, 'the client to see the tunnel close');
    expect(closeCode, 'close code seen by the client').to.equal(1001);
    await eventually(() => backend.wsCloseCodes.length === 1, 'the backend to see the tunnel close');
    expect(backend.wsCloseCodes[0], 'close code seen by the backend').to.equal(1001);
    // drainTimeout is a minute, longer than this test may run: exiting at all shows it did not wait for it.
    expect(await sluice.waitForExit()).to.equal(0);
    expect(sluice.logs.some((l) => l.msg.startsWith('drain timeout passed'))).to.equal(false);
  });
});
