// Issue 7, failures 2 and 8: `requestTimeout: 0` also turned off Node's headersTimeout, so a
// connection that sent nothing, or a request head sent one byte a second, stayed open forever.
// Now the whole head must arrive within timeouts.clientHeader, else 408 and the connection closes.

import { expect } from 'chai';
import { harnessPerTest } from '../helpers/harness.ts';
import { RawClient, steadyConfig } from '../helpers/raw-http.ts';

describe('slow request head (e2e)', () => {
  const clients: RawClient[] = [];
  const drips: NodeJS.Timeout[] = [];
  afterEach(() => {
    for (const timer of drips.splice(0)) clearInterval(timer);
    for (const client of clients.splice(0)) client.destroy();
  });
  const h = harnessPerTest();

  // clientIdle is long, so only timeouts.clientHeader can close these connections.
  const config = (urls: string[]): string => steadyConfig(urls, 'timeouts:\n  clientHeader: 500ms\n  clientIdle: 1m');

  it('answers 408 and closes the connection when the request head trickles in slower than timeouts.clientHeader', async () => {
    const sluice = await h.start(1, { config });
    const client = await RawClient.open(sluice.proxy);
    clients.push(client);
    client.write('GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ');
    // One byte every 100 ms: a head that would take 30 s to finish, always moving.
    let sent = 0;
    drips.push(setInterval(() => {
      if (sent++ < 300) client.write('a');
    }, 100));
    await client.waitFor(/^HTTP\/1\.1 408 /, 'a 408 answer');
    await client.waitForClose('sluice to close the connection');
    expect(sent, 'bytes dripped before the 408').to.be.below(300);
    expect(h.backends[0].hits, 'requests that reached the backend').to.equal(0);
  });

  it('closes a connection that never sends a byte', async () => {
    const sluice = await h.start(1, { config });
    const client = await RawClient.open(sluice.proxy);
    clients.push(client);
    await client.waitForClose('sluice to close the silent connection');
    // Whatever it said before closing, it was not a success.
    expect(client.text).to.not.match(/^HTTP\/1\.1 2/);
  });

  it('serves a head that arrives in pieces within timeouts.clientHeader', async () => {
    const sluice = await h.start(1, { config: (urls) => steadyConfig(urls, 'timeouts:\n  clientHeader: 5s\n  clientIdle: 1m') });
    const client = await RawClient.open(sluice.proxy);
    clients.push(client);
    client.write('GET / HTTP/1.1\r\n');
    client.write('Host: x\r\n');
    client.write('\r\n');
    const [res] = await client.waitForResponses(1, 'the answer');
    expect(res.status).to.equal(200);
    expect(res.body).to.equal('b1\n');
  });
});
