import { expect } from 'chai';
import { request } from 'undici';
import { eventually } from '../helpers/eventually.ts';
import { harnessPerTest } from '../helpers/harness.ts';

describe('access log (e2e)', () => {
  const h = harnessPerTest();

  it('writes nothing per request by default', async () => {
    const sluice = await h.start(1);
    const res = await request(sluice.proxyUrl + '/quiet');
    await res.body.text();
    sluice.signal('SIGTERM');
    await sluice.waitForExit();
    expect(sluice.logs.some((l) => l.msg === 'access')).to.equal(false);
  });

  it('writes one JSON line per request when accessLog is on, also for aborted requests', async () => {
    const sluice = await h.start(1, { extra: 'accessLog: true' });
    const res = await request(sluice.proxyUrl + '/echo?x=1', { headers: { 'x-request-id': 'req-1' } });
    await res.body.text();
    const line = await sluice.waitForLog((l) => l.msg === 'access' && l.path === '/echo?x=1', 'the access line');
    expect(line).to.include({ method: 'GET', status: 200, backend: h.backends[0].url, attempts: 1, requestId: 'req-1' });
    expect(line.durationMs).to.be.a('number');
    expect(line.upstreamMs).to.be.a('number');
    expect(line).to.include({ protocol: 'HTTP/1.1', host: h.sluice.proxy, userAgent: null });
    expect(line.bytesOut).to.be.greaterThan(0);

    const controller = new AbortController();
    const pending = request(sluice.proxyUrl + '/hang', { signal: controller.signal }).catch((err: Error) => err);
    await eventually(() => h.backends[0].hangsOpen === 1, 'the request to reach the backend');
    controller.abort();
    await pending;
    const aborted = await sluice.waitForLog((l) => l.msg === 'access' && l.path === '/hang', 'the aborted request line');
    expect(aborted).to.include({ status: 499, error: 'client disconnected' });
  });
});
