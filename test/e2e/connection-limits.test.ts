// Issue 7, failures 2 and 3: there was no cap on client connections or on connections per backend,
// and at the descriptor limit /healthz, /readyz and /status were unreachable. Now
// limits.maxConnections drops new client connections beyond it while the admin listener still
// answers, and a backend at backendMaxConnections + backendMaxPending is skipped; when every
// backend is full the client gets 503 with Retry-After at once instead of an unbounded queue.

import { expect } from 'chai';
import { request } from 'undici';
import { eventually } from '../helpers/eventually.ts';
import { harnessPerTest } from '../helpers/harness.ts';
import { RawClient, steadyConfig } from '../helpers/raw-http.ts';

describe('connection limits (e2e)', () => {
  const clients: RawClient[] = [];
  const aborts: AbortController[] = [];
  // Registered before the harness's, so clients go first and sluice does not wait to drain them.
  afterEach(() => {
    for (const c of aborts.splice(0)) c.abort();
    for (const c of clients.splice(0)) c.destroy();
  });
  const h = harnessPerTest();

  async function servedConnection(address: string): Promise<RawClient> {
    const client = await RawClient.open(address);
    clients.push(client);
    client.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    const [res] = await client.waitForResponses(1, 'an answer on a held connection');
    expect(res.status).to.equal(200);
    return client;
  }

  /** Starts a request that hangs at the backend; aborted at cleanup if the test did not. */
  function hang(url: string): Promise<unknown> {
    const controller = new AbortController();
    aborts.push(controller);
    return request(url + '/hang', { signal: controller.signal }).catch((err: Error) => err);
  }

  it('drops client connections beyond limits.maxConnections while /healthz and /status still answer', async () => {
    const sluice = await h.start(1, { config: (urls) => steadyConfig(urls, 'limits:\n  maxConnections: 4\ntimeouts:\n  clientIdle: 1m\n  clientHeader: 1m') });
    const held: RawClient[] = [];
    for (let i = 0; i < 4; i++) held.push(await servedConnection(sluice.proxy));

    const extra = await RawClient.open(sluice.proxy);
    clients.push(extra);
    extra.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    await extra.waitForClose('sluice to drop the fifth connection');
    expect(extra.text, 'what the fifth connection got').to.equal('');

    // The admin listener is separate and not counted.
    expect((await request(sluice.adminUrl + '/healthz')).statusCode).to.equal(200);
    const status = await sluice.status();
    expect(status.backends[0].state).to.equal('healthy');
    expect((await request(sluice.adminUrl + '/readyz')).statusCode).to.equal(200);

    // A held connection is still served, and once one is closed a new one gets in.
    held[0].write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    expect((await held[0].waitForResponses(2, 'a second answer on a held connection'))[1].status).to.equal(200);
    held[3].destroy();
    await eventually(async () => {
      const client = await RawClient.open(sluice.proxy);
      clients.push(client);
      client.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
      await eventually(() => client.ended || client.closed || client.text.length > 0, 'an answer or a drop');
      return client.text.startsWith('HTTP/1.1 200');
    }, 'a new connection to be served after one closed');
  });

  it('answers 503 with Retry-After once the backend has backendMaxConnections open and backendMaxPending queued', async () => {
    const sluice = await h.start(1, { config: (urls) => steadyConfig(urls, 'limits:\n  backendMaxConnections: 1\n  backendMaxPending: 1') });
    const backend = h.backends[0];
    const first = hang(sluice.proxyUrl);
    await eventually(() => backend.hangsOpen === 1, 'the first request to reach the backend');
    const second = hang(sluice.proxyUrl);
    await eventually(async () => (await sluice.backend(backend.url))?.inflight === 2, 'the second request to wait in the queue');
    expect(backend.hangsOpen, 'requests the backend has (one connection only)').to.equal(1);

    const res = await request(sluice.proxyUrl + '/');
    expect(res.statusCode).to.equal(503);
    expect(res.headers['retry-after']).to.equal('1');
    await res.body.text();
    // Full is not broken: the backend is not blamed.
    const b = await sluice.backend(backend.url);
    expect(b?.state).to.equal('healthy');
    expect(b?.failures).to.equal(0);

    for (const c of aborts.splice(0)) c.abort();
    await Promise.all([first, second]);
    await eventually(async () => (await sluice.backend(backend.url))?.inflight === 0, 'inflight to return to 0');
    const after = await request(sluice.proxyUrl + '/');
    expect(after.statusCode).to.equal(200);
    await after.body.text();
  });

  it('skips a full backend and sends the traffic to one with room', async () => {
    const sluice = await h.start(2, { config: (urls) => steadyConfig(urls, 'limits:\n  backendMaxConnections: 1\n  backendMaxPending: 0') });
    void hang(sluice.proxyUrl);
    await eventually(() => h.backends[0].hangsOpen + h.backends[1].hangsOpen === 1, 'the hanging request to reach a backend');
    const full = h.backends[0].hangsOpen === 1 ? 'b1' : 'b2';
    const served: string[] = [];
    for (let i = 0; i < 10; i++) {
      const res = await request(sluice.proxyUrl + '/');
      expect(res.statusCode, `request ${i + 1}`).to.equal(200);
      served.push((await res.body.text()).trim());
    }
    expect(served).to.not.include(full);
  });
});
