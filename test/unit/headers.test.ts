import { expect } from 'chai';
import type { IncomingMessage } from 'node:http';
import { downstreamResponseHeaderList, upstreamRequestHeaders } from '../../src/proxy/headers.ts';

function incoming(raw: string[], remoteAddress = '192.0.2.10'): IncomingMessage {
  const headers: Record<string, string> = {};
  for (let i = 0; i < raw.length; i += 2) headers[raw[i].toLowerCase()] = raw[i + 1];
  return { rawHeaders: raw, headers, socket: { remoteAddress } } as unknown as IncomingMessage;
}

function pairs<T>(flat: T[]): [T, T][] {
  const out: [T, T][] = [];
  for (let i = 0; i < flat.length; i += 2) out.push([flat[i], flat[i + 1]]);
  return out;
}

function toMap(flat: string[]): Map<string, string> {
  const m = new Map<string, string>();
  for (let i = 0; i < flat.length; i += 2) m.set(flat[i].toLowerCase(), flat[i + 1]);
  return m;
}

describe('upstream request headers', () => {
  it('drops hop-by-hop headers and those named in Connection, keeping the rest in order', () => {
    const out = upstreamRequestHeaders(incoming([
      'Host', 'app', 'Connection', 'X-Hop, Upgrade', 'X-Hop', '1', 'Upgrade', 'websocket', 'Keep-Alive', '5',
      'Transfer-Encoding', 'chunked', 'TE', 'trailers', 'Proxy-Connection', 'keep-alive', 'Expect', '100-continue', 'Accept', '*/*',
    ]), { proto: 'http', trusted: false });
    expect(out.slice(0, 4)).to.deep.equal(['Host', 'app', 'Accept', '*/*']);
    const m = toMap(out);
    for (const gone of ['connection', 'x-hop', 'upgrade', 'keep-alive', 'transfer-encoding', 'te', 'proxy-connection', 'expect']) expect(m.has(gone), gone).to.equal(false);
  });

  it('appends the client to X-Forwarded-For and sets X-Forwarded-Proto and -Host', () => {
    const m = toMap(upstreamRequestHeaders(incoming(['Host', 'shop.test', 'X-Forwarded-For', '203.0.113.1', 'x-forwarded-for', '198.51.100.2', 'X-Forwarded-Proto', 'ftp']), { proto: 'http', trusted: false }));
    expect(m.get('x-forwarded-for')).to.equal('203.0.113.1, 198.51.100.2, 192.0.2.10');
    expect(m.get('x-forwarded-proto')).to.equal('http');
    expect(m.get('x-forwarded-host')).to.equal('shop.test');
  });

  it('adds a fresh X-Request-Id only when the client sent none', () => {
    const a = toMap(upstreamRequestHeaders(incoming(['Host', 'x']), { proto: 'http', trusted: false })).get('x-request-id');
    const b = toMap(upstreamRequestHeaders(incoming(['Host', 'x']), { proto: 'http', trusted: false })).get('x-request-id');
    expect(a).to.match(/^[0-9a-f-]{36}$/);
    expect(a).to.not.equal(b);
    const kept = upstreamRequestHeaders(incoming(['Host', 'x', 'X-Request-Id', 'mine']), { proto: 'http', trusted: false });
    expect(kept.filter((v) => v.toLowerCase() === 'x-request-id')).to.have.length(1);
    expect(toMap(kept).get('x-request-id')).to.equal('mine');
  });
});

describe('downstream response headers', () => {
  it('drops hop-by-hop headers and those named in Connection', () => {
    const out = Object.fromEntries(pairs(downstreamResponseHeaderList({ connection: 'close, x-internal', 'x-internal': 'y', 'keep-alive': 'timeout=5', 'transfer-encoding': 'chunked', 'content-type': 'text/plain', 'set-cookie': ['a=1', 'b=2'] })));
    expect(out).to.deep.equal({ 'content-type': 'text/plain', 'set-cookie': ['a=1', 'b=2'] });
  });
});
