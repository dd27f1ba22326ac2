import { expect } from 'chai';
import { WebSocket } from 'ws';
import { eventually } from '../helpers/eventually.ts';
import { startBackends, type TestBackend } from '../helpers/test-backend.ts';
import { SluiceProcess, testConfig } from '../helpers/sluice-process.ts';

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
  let backends: TestBackend[] = [];
  let sluice: SluiceProcess | undefined;

  afterEach(async () => {
    await sluice?.stop();
    await Promise.all(backends.map((b) => b.kill()));
    sluice = undefined;
    backends = [];
  });

  it('balances upgrades across backends and echoes messages both ways', async () => {
    backends = await startBackends(2);
    sluice = await new SluiceProcess(testConfig(backends.map((b) => b.url))).start(2);
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
    await eventually(async () => (await sluice!.status()).backends.every((b) => b.inflight === 0), 'tunnels to be released');
  });

  it('refuses an upgrade with 503 when no backend is healthy', async () => {
    backends = await startBackends(1);
    sluice = await new SluiceProcess(testConfig(backends.map((b) => b.url))).start(1);
    backends[0].healthStatus = 500;
    await eventually(async () => (await sluice!.status()).backends[0].state === 'unhealthy', 'the backend to go down');
    const error = await open(sluice.proxyUrl.replace('http:', 'ws:') + '/').then(() => undefined, (err: Error) => err);
    expect(error?.message).to.match(/503/);
  });
});
