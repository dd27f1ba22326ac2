// Issue 7, failure 2: an upload that stops moving, a backend that stops sending halfway through a
// response, and a client that never reads a large response all held their connections (and
// `inflight`) forever. Now each is cut once no byte has moved for timeouts.idle.

import { expect } from 'chai';
import { eventually } from '../helpers/eventually.ts';
import { harnessPerTest } from '../helpers/harness.ts';
import { cleanupPerTest, RawClient, startRawBackends, startSluice, steadyConfig } from '../helpers/raw-http.ts';

const IDLE = 'timeouts:\n  idle: 500ms\n  response: 1m\n  clientIdle: 1m';

describe('stalled request and response bodies (e2e)', () => {
  // Cleanup registered first: clients go before sluice stops.
  const cleanup = cleanupPerTest();
  const h = harnessPerTest();

  it('cuts an upload that stops moving after timeouts.idle, and inflight returns to 0', async () => {
    const sluice = await h.start(1, { config: (urls) => steadyConfig(urls, IDLE) });
    const client = cleanup.add(await RawClient.open(sluice.proxy), (c) => c.destroy());
    client.write('POST /upload HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\nContent-Length: 1000000\r\n\r\n');
    client.write(Buffer.alloc(10_000, 'u'));
    await eventually(async () => (await sluice.backend(h.backends[0].url))?.inflight === 1, 'the upload to reach the backend');
    // ...and then not another byte.
    await client.waitForClose('sluice to cut the stalled upload');
    expect(client.text, 'what the stalled uploader got').to.not.match(/^HTTP\/1\.1 2/);
    await eventually(async () => (await sluice.backend(h.backends[0].url))?.inflight === 0, 'inflight to return to 0');
  });

  it('cuts a response whose backend stops sending halfway, and closes the backend connection too', async () => {
    const [backend] = cleanup.add(await startRawBackends(1, (_req, socket) => {
      // Promise a megabyte, send a kilobyte, then hang with the connection open.
      socket.write('HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: 1000000\r\n\r\n');
      socket.write(Buffer.alloc(1000, 's'));
      return 'detach';
    }), (bs) => Promise.all(bs.map((b) => b.kill())));
    const sluice = await startSluice(cleanup, steadyConfig([backend.url], IDLE), 1);
    const client = cleanup.add(await RawClient.open(sluice.proxy), (c) => c.destroy());
    client.write('GET /stall HTTP/1.1\r\nHost: x\r\n\r\n');
    await client.waitFor(/^HTTP\/1\.1 200 /, 'the response head');
    await client.waitForClose('sluice to cut the stalled response');
    expect(client.bytes, 'bytes the client got').to.be.below(1_000_000);
    await eventually(() => backend.closedRequestSockets === 1, 'sluice to close the stalled backend connection');
    await eventually(async () => (await sluice.backend(backend.url))?.inflight === 0, 'inflight to return to 0');
  });

  it('cuts a client that never reads a 64 MB response, and stops pulling from the backend', async () => {
    const sluice = await h.start(1, { config: (urls) => steadyConfig(urls, IDLE) });
    const total = 64 * 1024 * 1024;
    const client = cleanup.add(await RawClient.open(sluice.proxy), (c) => c.destroy());
    client.write(`GET /download?bytes=${total} HTTP/1.1\r\nHost: x\r\n\r\n`);
    client.socket.pause();
    await eventually(() => h.backends[0].downloadSent > 0, 'the download to start');
    await eventually(async () => (await sluice.backend(h.backends[0].url))?.inflight === 0, 'sluice to give up on the reader and release the backend', 15_000);
    expect(h.backends[0].downloadSent, 'bytes the backend handed over').to.be.below(total);
    // Now read what was buffered: the response ends short of the promised 64 MB.
    client.socket.resume();
    await client.waitForClose('the cut to reach the client', 15_000);
    expect(client.bytes, 'bytes the client got').to.be.below(total);
  });
});
