// Issue 7: X-Forwarded-Proto was built from client input ("https,ws"). Now X-Forwarded-Proto,
// X-Forwarded-Host and Forwarded are kept only from a peer in trustedProxies (default: none) and
// replaced or dropped for anyone else; X-Forwarded-For is always appended to.

import { expect } from 'chai';
import { request } from 'undici';
import { harnessPerTest } from '../helpers/harness.ts';
import { steadyConfig } from '../helpers/raw-http.ts';
import type { SluiceProcess } from '../helpers/sluice-process.ts';

interface Echo {
  headers: Record<string, string>;
}

const FROM_PROXY = {
  host: 'internal.test',
  'x-forwarded-proto': 'https',
  'x-forwarded-host': 'public.example.test',
  forwarded: 'for=198.51.100.9;proto=https;host=public.example.test',
  'x-forwarded-for': '198.51.100.9',
};

async function echo(sluice: SluiceProcess): Promise<Echo> {
  const res = await request(sluice.proxyUrl + '/echo', { headers: FROM_PROXY });
  expect(res.statusCode).to.equal(200);
  return (await res.body.json()) as Echo;
}

describe('trusted proxies (e2e)', () => {
  const h = harnessPerTest();

  it('replaces forwarding headers from an untrusted peer (the default) and appends X-Forwarded-For', async () => {
    const sluice = await h.start(1, { config: (urls) => steadyConfig(urls) });
    const { headers } = await echo(sluice);
    expect(headers['x-forwarded-proto']).to.equal('http');
    expect(headers['x-forwarded-host']).to.equal('internal.test');
    expect(headers).to.not.have.property('forwarded');
    expect(headers['x-forwarded-for']).to.equal('198.51.100.9, 127.0.0.1');
  });

  it('keeps forwarding headers from a peer in trustedProxies and appends X-Forwarded-For', async () => {
    const sluice = await h.start(1, { config: (urls) => steadyConfig(urls, 'trustedProxies:\n  - "127.0.0.0/8"') });
    const { headers } = await echo(sluice);
    expect(headers['x-forwarded-proto']).to.equal('https');
    expect(headers['x-forwarded-host']).to.equal('public.example.test');
    expect(headers.forwarded).to.equal(FROM_PROXY.forwarded);
    expect(headers['x-forwarded-for']).to.equal('198.51.100.9, 127.0.0.1');
  });

  it('does not trust a peer outside trustedProxies', async () => {
    const sluice = await h.start(1, { config: (urls) => steadyConfig(urls, 'trustedProxies:\n  - "10.0.0.0/8"') });
    const { headers } = await echo(sluice);
    expect(headers['x-forwarded-proto']).to.equal('http');
    expect(headers['x-forwarded-host']).to.equal('internal.test');
    expect(headers).to.not.have.property('forwarded');
  });
});
