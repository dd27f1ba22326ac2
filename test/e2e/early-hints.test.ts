// Issue 7, failure 5: a backend sending `103 Early Hints` or `102 Processing` before its answer
// left the client with an empty reply and counted a failure against the backend. Now both are
// relayed to HTTP/1.1 clients (HTTP/1.0 clients, which cannot take them, never see them) and
// never count against the backend.

import { expect } from 'chai';
import type { IncomingHttpHeaders } from 'node:http2';
import { H2Client } from '../helpers/h2-client.ts';
import { cleanupPerTest, RawClient, rawOk, startRawBackends, startSluice, steadyConfig } from '../helpers/raw-http.ts';
import type { SluiceProcess } from '../helpers/sluice-process.ts';

describe('1xx informational responses (e2e)', () => {
  const cleanup = cleanupPerTest();

  async function setUp(): Promise<SluiceProcess> {
    const backends = cleanup.add(await startRawBackends(1, (req, socket) => {
      if (req.path === '/hints') socket.write('HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload; as=style\r\n\r\n');
      if (req.path === '/processing') socket.write('HTTP/1.1 102 Processing\r\n\r\n');
      // The final answer a moment later, as a backend still working would send it.
      setTimeout(() => socket.write(rawOk('final\n')), 50);
    }), (bs) => Promise.all(bs.map((b) => b.kill())));
    return startSluice(cleanup, steadyConfig(backends.map((b) => b.url)), 1);
  }

  async function ask(sluice: SluiceProcess, text: string, count: number): Promise<RawClient> {
    const client = cleanup.add(await RawClient.open(sluice.proxy), (c) => c.destroy());
    client.write(text);
    await client.waitForResponses(count, 'the answers');
    return client;
  }

  async function expectNotBlamed(sluice: SluiceProcess): Promise<void> {
    const [b] = (await sluice.status()).backends;
    expect(b.failures, `failures counted (last error: ${String(b.lastError)})`).to.equal(0);
    expect(b.state).to.equal('healthy');
  }

  it('relays 103 Early Hints with its Link header, then the 200', async () => {
    const sluice = await setUp();
    const client = await ask(sluice, 'GET /hints HTTP/1.1\r\nHost: x\r\n\r\n', 2);
    const [hints, final] = await client.waitForResponses(2, 'the 103 and the 200');
    expect(client.text).to.match(/^HTTP\/1\.1 103 /);
    expect(hints.status).to.equal(103);
    expect(hints.headers.link).to.equal('</style.css>; rel=preload; as=style');
    expect(final.status).to.equal(200);
    expect(final.body).to.equal('final\n');
    await expectNotBlamed(sluice);
  });

  it('relays 102 Processing, then the 200', async () => {
    const sluice = await setUp();
    const client = await ask(sluice, 'GET /processing HTTP/1.1\r\nHost: x\r\n\r\n', 2);
    const [processing, final] = await client.waitForResponses(2, 'the 102 and the 200');
    expect(client.text).to.match(/^HTTP\/1\.1 102 /);
    expect(processing.status).to.equal(102);
    expect(final.status).to.equal(200);
    expect(final.body).to.equal('final\n');
    await expectNotBlamed(sluice);
  });

  it('relays 103 Early Hints with its Link header to an HTTP/2 client too, then the 200', async () => {
    const sluice = await setUp();
    const client = cleanup.add(await H2Client.open(sluice.proxyUrl), (c) => c.close());
    const stream = client.session.request({ ':path': '/hints' });
    const informational: IncomingHttpHeaders[] = [];
    stream.on('headers', (headers) => informational.push(headers));
    const final = await H2Client.answer(stream);
    expect(informational.map((h) => [h[':status'], h.link])).to.deep.equal([[103, '</style.css>; rel=preload; as=style']]);
    expect({ status: final.status, body: final.text }).to.deep.equal({ status: 200, body: 'final\n' });
    await expectNotBlamed(sluice);
  });

  it('does not send 103 to an HTTP/1.0 client, which gets the 200 alone', async () => {
    const sluice = await setUp();
    const client = await ask(sluice, 'GET /hints HTTP/1.0\r\nHost: x\r\n\r\n', 1);
    const [first] = await client.waitForResponses(1, 'the answer');
    expect(first.status).to.equal(200);
    expect(first.body).to.equal('final\n');
    await expectNotBlamed(sluice);
  });
});
