import { expect } from 'chai';
import { request } from 'undici';
import { eventually } from '../helpers/eventually.ts';
import { harnessPerTest } from '../helpers/harness.ts';

describe('graceful shutdown (e2e)', () => {
  const h = harnessPerTest();

  it('on SIGTERM turns /readyz to 503 at once, lets a slow in-flight request finish, then exits 0', async () => {
    // A shutdown delay keeps the listeners open long enough to observe readiness flip.
    const sluice = await h.start(1, { extra: 'shutdown:\n  delay: 500ms\n  drainTimeout: 10s' });
    const backends = h.backends;
    const slow = request(`${sluice.proxyUrl}/slow?ms=1500`);
    await eventually(async () => (await sluice.backend(backends[0].url))?.inflight === 1, 'the slow request to be in flight');
    sluice.signal('SIGTERM');
    await eventually(async () => (await request(sluice.adminUrl + '/readyz')).statusCode === 503, '/readyz to turn 503');
    const status = await sluice.status();
    expect(status.shuttingDown).to.equal(true);
    expect(status.ready).to.equal(false);
    const res = await slow;
    expect(res.statusCode).to.equal(200);
    expect(await res.body.text()).to.equal('b1 slow 1500\n');
    expect(await sluice.waitForExit()).to.equal(0);
    expect(sluice.logs.some((l) => l.msg === 'stopped')).to.equal(true);
  });

  it('cuts requests still running when the drain timeout passes, and still exits 0', async () => {
    const sluice = await h.start(1, { extra: 'shutdown:\n  drainTimeout: 300ms' });
    const backends = h.backends;
    const hung = request(`${sluice.proxyUrl}/hang`).then((r) => r.statusCode, (err: Error) => err);
    await eventually(() => backends[0].hangsOpen === 1, 'the request to reach the backend');
    sluice.signal('SIGINT');
    expect(await sluice.waitForExit()).to.equal(0);
    expect(await hung).to.be.instanceOf(Error);
    expect(sluice.logs.some((l) => l.msg.startsWith('drain timeout passed'))).to.equal(true);
  });

  it('answers requests that arrive during the shutdown delay and asks keep-alive clients to close', async () => {
    const sluice = await h.start(1, { extra: 'shutdown:\n  delay: 1s' });
    const backends = h.backends;
    sluice.signal('SIGTERM');
    await eventually(async () => (await sluice.status()).shuttingDown, 'shutdown to begin');
    const res = await request(sluice.proxyUrl + '/');
    expect(res.statusCode).to.equal(200);
    expect(res.headers.connection).to.equal('close');
    await res.body.text();
    expect(await sluice.waitForExit()).to.equal(0);
  });
});
