// Issue 7, failure 4: the upgrade path skipped the header policy: a header named in Connection was
// forwarded, there was no X-Request-Id or X-Forwarded-Host, and X-Forwarded-Proto was built from
// client input ("https,ws"). Now an upgrade request gets exactly the headers a plain request gets,
// and a backend that refuses the upgrade has its answer passed to the client as it is.

import { expect } from 'chai';
import { eventually } from '../helpers/eventually.ts';
import { cleanupPerTest, RawClient, startSluice, steadyConfig } from '../helpers/raw-http.ts';
import { UpgradeBackend, upgradeRequest } from '../helpers/upgrade-backend.ts';

describe('WebSocket upgrade headers (e2e)', () => {
  const cleanup = cleanupPerTest();

  async function setUp(): Promise<{ backend: UpgradeBackend; address: string; status: () => Promise<number> }> {
    const backend = cleanup.add(await new UpgradeBackend().start(), (b) => b.kill());
    const sluice = await startSluice(cleanup, steadyConfig([backend.url]), 1);
    return { backend, address: sluice.proxy, status: async () => (await sluice.status()).backends[0].inflight };
  }

  it('applies the same header policy to upgrade requests as to plain ones', async () => {
    const { address } = await setUp();
    const client = cleanup.add(await RawClient.open(address), (c) => c.destroy());
    client.write([
      'GET /headers?x=1 HTTP/1.1', 'Host: app.example.test', 'Connection: Upgrade, X-Secret-Hop', 'Upgrade: websocket',
      'Sec-WebSocket-Version: 13', 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==',
      'X-Secret-Hop: must-not-pass', 'Keep-Alive: timeout=5', 'Proxy-Authorization: Basic Zm9vOmJhcg==',
      'X-Forwarded-Proto: https,ws', 'X-Forwarded-Host: spoofed.test', 'Forwarded: for=1.2.3.4;proto=https',
      'X-Forwarded-For: 203.0.113.7', 'X-Custom: kept', '', '',
    ].join('\r\n'));
    const [, json] = await client.waitFor(/^HTTP\/1\.1 101 [^]*?\r\n\r\n(\{.*\})\n/, 'the 101 and the headers the backend saw');
    const headers = JSON.parse(json) as Record<string, string>;
    expect(headers.host).to.equal('app.example.test');
    expect(headers['x-custom']).to.equal('kept');
    for (const gone of ['x-secret-hop', 'keep-alive', 'proxy-authorization', 'forwarded']) expect(headers, gone).to.not.have.property(gone);
    expect(headers['x-forwarded-proto']).to.equal('http');
    expect(headers['x-forwarded-host']).to.equal('app.example.test');
    expect(headers['x-forwarded-for']).to.equal('203.0.113.7, 127.0.0.1');
    expect(headers['x-request-id']).to.match(/^[0-9a-f-]{36}$/);
    expect(headers.upgrade).to.equal('websocket');
    expect(headers.connection).to.match(/^upgrade$/i);
    expect(headers['sec-websocket-key']).to.equal('dGhlIHNhbXBsZSBub25jZQ==');
  });

  it('passes a refused upgrade (403) to the client as it is, and inflight returns to 0', async () => {
    const { address, status } = await setUp();
    const client = cleanup.add(await RawClient.open(address), (c) => c.destroy());
    client.write(upgradeRequest('/refuse'));
    const [res] = await client.waitForResponses(1, 'the refusal');
    expect(res.status).to.equal(403);
    expect(res.body).to.equal('forbidden\n');
    await client.waitForClose('the refused connection to close');
    await eventually(async () => (await status()) === 0, 'inflight to return to 0');
  });

  it('pins a WebSocket client with the sticky cookie on the 101, and its reconnects land on the same backend', async () => {
    const backends = await Promise.all([0, 1, 2].map(async () => cleanup.add(await new UpgradeBackend().start(), (b) => b.kill())));
    const sluice = await startSluice(cleanup, steadyConfig(backends.map((b) => b.url), 'stickySession:\n  cookie: pin'), 3);
    const upgrade = async (extra: string[]): Promise<{ head: string; backend: number }> => {
      const before = backends.map((b) => b.upgrades.length);
      const client = cleanup.add(await RawClient.open(sluice.proxy), (c) => c.destroy());
      client.write(upgradeRequest('/open', extra));
      const [head] = await client.waitFor(/^HTTP\/1\.1 101 [^]*?\r\n\r\n/, 'the 101');
      client.destroy();
      return { head, backend: backends.findIndex((b, i) => b.upgrades.length > before[i]) };
    };
    const first = await upgrade([]);
    const cookie = /\r\nSet-Cookie: (pin=[A-Za-z0-9_-]{16});/i.exec(first.head)?.[1];
    expect(cookie, 'a sticky cookie on the 101').to.be.a('string');
    for (let i = 0; i < 6; i++) {
      const again = await upgrade([`Cookie: ${cookie}`]);
      expect(again.backend).to.equal(first.backend);
      expect(again.head, 'no new cookie for a pinned client').to.not.match(/Set-Cookie/i);
    }
  });
});
