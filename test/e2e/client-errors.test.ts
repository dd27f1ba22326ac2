// Issue 7, failure 8: every client error was a 400 (header overflow should be 431, a header
// timeout 408), CONNECT closed the connection without an answer, an absolute-form target kept the
// client's Host (RFC 9112 §3.2.2: the target's authority replaces it), and a client could strip
// Host by naming it in Connection. (The 408 is in slow-request-head.test.ts.)

import { expect } from 'chai';
import { harnessPerSuite } from '../helpers/harness.ts';
import { exchange, parseResponses, steadyConfig } from '../helpers/raw-http.ts';

interface Echo {
  url: string;
  headers: Record<string, string>;
}

describe('client errors and request targets (e2e)', () => {
  const h = harnessPerSuite(1, { config: (urls) => steadyConfig(urls) });

  async function answer(text: string): Promise<{ status: number; headers: Record<string, string>; body: string }> {
    const raw = await exchange(h.sluice.proxy, text);
    const [res] = parseResponses(raw, true);
    expect(res, `an HTTP answer (got ${JSON.stringify(raw.slice(0, 200))})`).to.not.equal(undefined);
    return res;
  }

  it('answers CONNECT with 405 and an Allow header', async () => {
    const res = await answer('CONNECT example.test:443 HTTP/1.1\r\nHost: example.test:443\r\n\r\n');
    expect(res.status).to.equal(405);
    expect(res.headers.allow).to.match(/GET/);
    expect(h.backends[0].hits).to.equal(0);
  });

  it('answers a request head too large with 431', async () => {
    const res = await answer(`GET / HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(64 * 1024)}\r\n\r\n`);
    expect(res.status).to.equal(431);
  });

  it('answers a malformed request with 400', async () => {
    const res = await answer('GET / HTTP/1.1\r\nHost: x\r\nBad Header Name: y\r\n\r\n');
    expect(res.status).to.equal(400);
  });

  it('makes an absolute-form target\'s authority the Host and X-Forwarded-Host', async () => {
    const res = await answer('GET http://app.example.test:8080/echo?x=1 HTTP/1.1\r\nHost: other.test\r\nConnection: close\r\n\r\n');
    expect(res.status).to.equal(200);
    const echo = JSON.parse(res.body) as Echo;
    expect(echo.url).to.equal('/echo?x=1');
    expect(echo.headers.host).to.equal('app.example.test:8080');
    expect(echo.headers['x-forwarded-host']).to.equal('app.example.test:8080');
  });

  it('does not let Connection: host remove Host', async () => {
    const res = await answer('GET /echo HTTP/1.1\r\nHost: app.example.test\r\nConnection: close, host\r\n\r\n');
    expect(res.status).to.equal(200);
    const echo = JSON.parse(res.body) as Echo;
    expect(echo.headers.host).to.equal('app.example.test');
    expect(echo.headers['x-forwarded-host']).to.equal('app.example.test');
  });
});
