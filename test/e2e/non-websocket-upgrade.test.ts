// Issue 7, failure 4: `curl --http2` (Upgrade: h2c, also sent by Java's HttpClient by default),
// `Upgrade: TLS/1.2` and a POST with `Upgrade: websocket` all got an empty reply. Now only
// GET + websocket is tunnelled; every other Upgrade is dropped (with HTTP2-Settings) and the
// request is served as plain HTTP/1.1, on a connection that stays usable.

import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { expect } from 'chai';
import { harnessPerSuite } from '../helpers/harness.ts';
import { RawClient, steadyConfig } from '../helpers/raw-http.ts';

const run = promisify(execFile);

interface Echo {
  method: string;
  url: string;
  headers: Record<string, string>;
}

describe('non-WebSocket upgrades (e2e)', () => {
  const clients: RawClient[] = [];
  afterEach(() => { for (const c of clients.splice(0)) c.destroy(); });
  const h = harnessPerSuite(1, { config: (urls) => steadyConfig(urls) });

  async function send(text: string, responses = 1): Promise<Echo[]> {
    const client = await RawClient.open(h.sluice.proxy);
    clients.push(client);
    client.write(text);
    const got = await client.waitForResponses(responses, 'the answer');
    for (const res of got) expect(res.status, res.head).to.equal(200);
    return got.map((res) => JSON.parse(res.body) as Echo);
  }

  function expectNoUpgrade(echo: Echo): void {
    expect(echo.headers).to.not.have.property('upgrade');
    expect(echo.headers).to.not.have.property('http2-settings');
    expect(echo.headers.connection ?? '').to.not.match(/upgrade/i);
  }

  it('serves `curl --http2` (Upgrade: h2c) over HTTP/1.1', async () => {
    const { stdout } = await run('curl', ['--silent', '--show-error', '--http2', '--max-time', '15',
      '--write-out', '\n%{http_code} %{http_version}', `${h.sluice.proxyUrl}/echo?via=curl`]);
    const lines = stdout.trimEnd().split('\n');
    expect(lines.pop()).to.equal('200 1.1');
    const echo = JSON.parse(lines.join('\n')) as Echo;
    expect(echo.url).to.equal('/echo?via=curl');
    expectNoUpgrade(echo);
  });

  it('answers an h2c upgrade request as HTTP/1.1 and keeps the connection for the next request', async () => {
    const client = await RawClient.open(h.sluice.proxy);
    clients.push(client);
    client.write(['GET /echo?n=1 HTTP/1.1', 'Host: app.test', 'Connection: Upgrade, HTTP2-Settings', 'Upgrade: h2c', 'HTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA', '', ''].join('\r\n'));
    const [first] = await client.waitForResponses(1, 'the answer to the h2c upgrade request');
    expect(first.status, first.head).to.equal(200);
    expect(first.head).to.not.match(/^HTTP\/1\.1 101/);
    const echo = JSON.parse(first.body) as Echo;
    expect(echo.url).to.equal('/echo?n=1');
    expectNoUpgrade(echo);
    // The connection was not switched to anything: a plain request on it is answered.
    client.write(['GET /echo?n=2 HTTP/1.1', 'Host: app.test', '', ''].join('\r\n'));
    const [, second] = await client.waitForResponses(2, 'the answer to the next request');
    expect(second.status, second.head).to.equal(200);
    expect((JSON.parse(second.body) as Echo).url).to.equal('/echo?n=2');
  });

  it('answers `Upgrade: TLS/1.2` as HTTP/1.1', async () => {
    const [echo] = await send(['OPTIONS /echo HTTP/1.1', 'Host: app.test', 'Connection: Upgrade', 'Upgrade: TLS/1.2', '', ''].join('\r\n'));
    expect(echo.method).to.equal('OPTIONS');
    expectNoUpgrade(echo);
  });

  it('answers a POST with `Upgrade: websocket` as HTTP/1.1, body included', async () => {
    const client = await RawClient.open(h.sluice.proxy);
    clients.push(client);
    client.write([
      'POST /upload HTTP/1.1', 'Host: app.test', 'Connection: Upgrade', 'Upgrade: websocket',
      'Sec-WebSocket-Version: 13', 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==', 'Content-Length: 5', '', 'hello',
    ].join('\r\n'));
    const [res] = await client.waitForResponses(1, 'the answer');
    expect(res.status).to.equal(200);
    expect(JSON.parse(res.body)).to.deep.equal({ backend: 'b1', bytes: 5 });
    const [echo] = await send(['POST /echo HTTP/1.1', 'Host: app.test', 'Connection: Upgrade', 'Upgrade: websocket', 'Content-Length: 0', '', ''].join('\r\n'));
    expect(echo.method).to.equal('POST');
    expectNoUpgrade(echo);
  });
});
