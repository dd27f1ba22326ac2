// Issue 7, failure 5: a backend status line `HTTP/1.1 099 X`, or a reason phrase with a control
// byte, reset the client connection instead of answering. Now the client gets a 502.

import { expect } from 'chai';
import { request } from 'undici';
import { cleanupPerTest, rawOk, startRawBackends, startSluice, steadyConfig } from '../helpers/raw-http.ts';

const BROKEN: Record<string, string> = {
  '/status-099': 'HTTP/1.1 099 X\r\nContent-Length: 2\r\n\r\nok',
  '/status-600': 'HTTP/1.1 600 Beyond\r\nContent-Length: 2\r\n\r\nok',
  '/control-byte': 'HTTP/1.1 200 O\x01K\r\nContent-Length: 2\r\n\r\nok',
  '/not-http': 'HELLO THERE\r\n\r\n',
};

describe('bad status line (e2e)', () => {
  const cleanup = cleanupPerTest();

  it('answers 502 for a status outside 100-599, a control byte in the reason, or no status line at all', async () => {
    const backends = cleanup.add(await startRawBackends(1, (req, socket) => {
      const broken = BROKEN[req.path];
      if (broken === undefined) {
        socket.write(rawOk('fine\n'));
        return;
      }
      socket.end(broken);
      return 'detach';
    }), (bs) => Promise.all(bs.map((b) => b.kill())));
    // Four failures in a row stay below passiveHealth.consecutiveFailures (5): the backend stays in.
    const sluice = await startSluice(cleanup, steadyConfig(backends.map((b) => b.url)), 1);
    for (const path of Object.keys(BROKEN)) {
      const res = await request(sluice.proxyUrl + path).catch((err: Error) => err);
      expect(res, `${path}: the client got an error instead of an answer`).to.not.be.instanceOf(Error);
      const { statusCode, body } = res as Exclude<typeof res, Error>;
      await body.text();
      expect(statusCode, path).to.equal(502);
    }
    const [b] = (await sluice.status()).backends;
    expect(b.failures).to.equal(Object.keys(BROKEN).length);
    expect(b.inflight).to.equal(0);
    const ok = await request(sluice.proxyUrl + '/');
    expect(ok.statusCode).to.equal(200);
    expect(await ok.body.text()).to.equal('fine\n');
  });
});
