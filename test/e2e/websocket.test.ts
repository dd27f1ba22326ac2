import { expect } from 'chai';
import { WebSocket } from 'ws';
import { eventually } from '../helpers/eventually.ts';
import { harnessPerTest } from '../helpers/harness.ts';

function open(url: string): Promise<{ ws: WebSocket; messages: string[] }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    const messages: string[] = [];
    ws.on('message', (data) => messages.push(data.toString()));
    ws.once('open', () => resolve({ ws, messages }));
    ws.once('error', reject);
  });
}

describe('WebSocket tunnelling (e2e)', () => {
  const h = harnessPerTest();

  it('balances upgrades across backends and echoes messages both ways', async () => {
    const sluice = await h.start(2);
    const backends = h.backends;
    const wsUrl = sluice.proxyUrl.replace('http:', 'ws:') + '/chat';
    const first = await open(wsUrl);
    const second = await open(wsUrl);
    await eventually(() => first.messages.length === 1 && second.messages.length === 1, 'greetings');
    const greeted = [first.messages[0], second.messages[0]].sort();
    expect(greeted).to.deep.equal(['hello from b1 /chat', 'hello from b2 /chat']);

    first.ws.send('ping');
    await eventually(() => first.messages.length === 2, 'the echo');
    expect(first.messages[1]).to.match(/^b[12]: ping$/);

    const status = await sluice.status();
    expect(status.backends.map((b) => b.inflight)).to.deep.equal([1, 1]);
    first.ws.close();
    second.ws.close();
    await eventually(async () => (await sluice.status()).backends.every((b) => b.inflight === 0), 'tunnels to be released');
  });

  it('refuses an upgrade with 503 when no backend is healthy', async () => {
    const sluice = await h.start(1);
    const backends = h.backends;
    backends[0].healthStatus = 500;
    await eventually(async () => (await sluice.status()).backends[0].state === 'unhealthy', 'the backend to go down');
    const error = await open(sluice.proxyUrl.replace('http:', 'ws:') + '/').then(() => undefined, (err: Error) => err);
    expect(error?.message).to.match(/503/);
  });
});
