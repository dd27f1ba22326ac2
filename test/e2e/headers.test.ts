import { expect } from 'chai';
import { connect } from 'node:net';
import { request } from 'undici';
import { harnessPerSuite } from '../helpers/harness.ts';

interface Echo {
  backend: string;
  method: string;
  url: string;
  headers: Record<string, string>;
}

/** Sends a raw HTTP/1.1 request so the test controls every header byte, and returns the raw answer. */
function rawRequest(address: string, text: string): Promise<string> {
  const [host, port] = [address.slice(0, address.lastIndexOf(':')), Number(address.slice(address.lastIndexOf(':') + 1))];
  return new Promise((resolve, reject) => {
    const socket = connect(port, host, () => socket.write(text));
    let answer = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk) => { answer += chunk; });
    socket.on('end', () => resolve(answer));
    socket.on('error', reject);
  });
}

describe('header handling (e2e)', () => {
  const h = harnessPerSuite(1);

  it('removes hop-by-hop headers, keeps Host, sets X-Forwarded-* and adds X-Request-Id', async () => {
    const answer = await rawRequest(h.sluice.proxy, [
      'GET /echo?q=1 HTTP/1.1',
      'Host: app.example.test',
      'Connection: close, X-Secret-Hop',
      'X-Secret-Hop: must-not-pass',
      'Keep-Alive: timeout=5',
      'Proxy-Authorization: Basic Zm9vOmJhcg==',
      'TE: trailers',
      'X-Forwarded-For: 203.0.113.7',
      'X-Forwarded-Proto: https-spoofed',
      'X-Custom: kept',
      '', '',
    ].join('\r\n'));
    const [head, body] = answer.split('\r\n\r\n');
    expect(head).to.match(/^HTTP\/1\.1 200/);
    const echo = JSON.parse(body) as Echo;
    expect(echo.url).to.equal('/echo?q=1');
    expect(echo.headers.host).to.equal('app.example.test');
    expect(echo.headers['x-custom']).to.equal('kept');
    for (const gone of ['x-secret-hop', 'keep-alive', 'proxy-authorization', 'te']) expect(echo.headers, gone).to.not.have.property(gone);
    expect(echo.headers['x-forwarded-for']).to.equal('203.0.113.7, 127.0.0.1');
    expect(echo.headers['x-forwarded-proto']).to.equal('http');
    expect(echo.headers['x-forwarded-host']).to.equal('app.example.test');
    expect(echo.headers['x-request-id']).to.match(/^[0-9a-f-]{36}$/);
    // The backend's own hop-by-hop answer headers stay on its hop too.
    expect(head.toLowerCase()).to.not.include('keep-alive: timeout=5');
    expect(head.toLowerCase()).to.include('x-backend: b1');
  });

  it('keeps a client X-Request-Id', async () => {
    const res = await request(`${h.sluice.proxyUrl}/echo`, { headers: { 'x-request-id': 'abc-123' } });
    const echo = (await res.body.json()) as Echo;
    expect(echo.headers['x-request-id']).to.equal('abc-123');
  });

  it('passes methods, query strings, status codes and repeated headers through', async () => {
    const res = await request(`${h.sluice.proxyUrl}/echo?a=1&a=2`, { method: 'DELETE', headers: ['x-multi', 'one', 'x-multi', 'two'] });
    expect(res.statusCode).to.equal(200);
    const echo = (await res.body.json()) as Echo;
    expect(echo.method).to.equal('DELETE');
    expect(echo.url).to.equal('/echo?a=1&a=2');
    expect(echo.headers['x-multi']).to.equal('one, two');
  });

  it('sends "Expect: 100-continue" uploads through without making the backend wait', async () => {
    const body = 'z'.repeat(100_000);
    const answer = await rawRequest(h.sluice.proxy, [
      'POST /upload HTTP/1.1', 'Host: x', 'Connection: close', 'Expect: 100-continue', `Content-Length: ${body.length}`, '', body,
    ].join('\r\n'));
    expect(answer).to.match(/^HTTP\/1\.1 100 Continue\r\n\r\nHTTP\/1\.1 200 OK/);
    expect(answer).to.include(JSON.stringify({ backend: 'b1', bytes: body.length }));
  });

  it('forwards an absolute-form request target in origin form, and answers 400 for one it cannot forward', async () => {
    const absolute = await rawRequest(h.sluice.proxy, ['GET http://elsewhere.test/echo?x=1 HTTP/1.1', 'Host: elsewhere.test', 'Connection: close', '', ''].join('\r\n'));
    expect(absolute).to.match(/^HTTP\/1\.1 200/);
    expect(JSON.parse(absolute.split('\r\n\r\n')[1]).url).to.equal('/echo?x=1');

    const before = (await h.sluice.status()).backends[0].failures;
    const star = await rawRequest(h.sluice.proxy, ['OPTIONS * HTTP/1.1', 'Host: x', 'Connection: close', '', ''].join('\r\n'));
    expect(star).to.match(/^HTTP\/1\.1 400/);
    // The client's request was at fault, not the backend: no failure is counted against it.
    const after = (await h.sluice.status()).backends[0];
    expect(after.failures).to.equal(before);
    expect(after.inflight).to.equal(0);
  });
});
