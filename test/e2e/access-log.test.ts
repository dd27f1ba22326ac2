import { expect } from 'chai';
import { spawn, type ChildProcessByStdio } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { Pool, request } from 'undici';
import { eventually } from '../helpers/eventually.ts';
import { harnessPerTest } from '../helpers/harness.ts';
import { RawClient } from '../helpers/raw-http.ts';
import { SLUICE_BIN, testConfig } from '../helpers/sluice-process.ts';
import { startBackends, type TestBackend } from '../helpers/test-backend.ts';

/** One request sent byte for byte as given (HTTP/1.1, connection closed after it); resolves with the status. */
async function rawRequest(address: string, target: string, headers: Buffer): Promise<number> {
  const client = await RawClient.open(address);
  try {
    client.write(Buffer.concat([Buffer.from(`GET ${target} HTTP/1.1\r\nHost: ${address}\r\nConnection: close\r\n`, 'latin1'), headers, Buffer.from('\r\n')]));
    const [response] = await client.waitForResponses(1, 'the response');
    return response.status;
  } finally {
    client.destroy();
  }
}

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

  it('keeps each line valid JSON with the exact values when the path and user agent hold quotes, backslashes, tabs and non-ASCII bytes', async () => {
    const sluice = await h.start(1, { extra: 'accessLog: true' });
    const target = '/say"hi"\\there?q="x\\y"&e=%C3%A9%00%22&b={a}|^`<>[]';
    // A header's bytes are Latin-1 to Node: UTF-8 text from a client arrives as one character per byte.
    const agent = Buffer.concat([Buffer.from('say "hi" \\o/\tend ', 'latin1'), Buffer.from('Mözilla/5.0 😀 中文', 'utf8')]);
    const status = await rawRequest(sluice.proxy, target, Buffer.concat([Buffer.from('User-Agent: '), agent, Buffer.from('\r\nX-Request-Id: id "1" \\ \r\n')]));
    expect(status).to.equal(200);
    const line = await sluice.waitForLog((l) => l.msg === 'access' && l.requestId === 'id "1" \\', 'the access line');
    expect(line).to.include({ path: target, userAgent: agent.toString('latin1'), method: 'GET', status: 200 });
  });

  it('writes whole lines for very long paths and user agents', async () => {
    const sluice = await h.start(1, { extra: 'accessLog: true' });
    const target = `/long/${'p'.repeat(4000)}?q=${'"\\'.repeat(500)}`;
    const agent = `${'a'.repeat(6000)}"\\${'é'.repeat(1000)}`;
    const status = await rawRequest(sluice.proxy, target, Buffer.from(`User-Agent: ${agent}\r\nX-Request-Id: long-1\r\n`, 'latin1'));
    expect(status).to.equal(200);
    const line = await sluice.waitForLog((l) => l.msg === 'access' && l.requestId === 'long-1', 'the access line');
    expect(line).to.include({ path: target, userAgent: agent });
  });

  it('writes a line for every request, none torn, the last ones too when it shuts down', async () => {
    const sluice = await h.start(2, { extra: 'accessLog: true' });
    const ids = Array.from({ length: 600 }, (_, i) => `load-${i}`);
    const pool = new Pool(sluice.proxyUrl, { connections: 20 });
    for (let i = 0; i < ids.length; i += 20) {
      await Promise.all(ids.slice(i, i + 20).map(async (id) => {
        const res = await pool.request({ method: 'GET', path: `/echo?id=${id}`, headers: { 'x-request-id': id, 'user-agent': `agent "${id}" \\` } });
        await res.body.text();
      }));
    }
    // No idle connection left to wait for: sluice stops at once, with the last lines still in its batch.
    await pool.close();
    sluice.signal('SIGTERM');
    expect(await sluice.waitForExit()).to.equal(0);
    const logged = sluice.logs.filter((l) => l.msg === 'access').map((l) => String(l.requestId));
    expect(logged.sort()).to.deep.equal([...ids].sort());
  });
});

describe('access log on a stdout nobody reads (e2e)', () => {
  let backends: TestBackend[] = [];
  let dir = '';
  let child: ChildProcessByStdio<null, Readable, null> | undefined;
  afterEach(async () => {
    if (child !== undefined && child.exitCode === null) child.kill('SIGKILL');
    child = undefined;
    await Promise.all(backends.map((b) => b.kill()));
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  /** sluice with the access log on and stdout a pipe this test reads, or stops reading; resolves once ready. */
  async function startOnPipe(): Promise<{ sluice: ChildProcessByStdio<null, Readable, null>; output: () => string; proxy: string; admin: string }> {
    backends = await startBackends(1);
    dir = mkdtempSync(join(tmpdir(), 'sluice-test-'));
    const config = join(dir, 'config.yaml');
    writeFileSync(config, testConfig(backends.map((b) => b.url), 'accessLog: true'));
    const sluice = spawn(process.execPath, [SLUICE_BIN, '--config', config], { stdio: ['ignore', 'pipe', 'inherit'] });
    child = sluice;
    let text = '';
    sluice.stdout.setEncoding('utf8').on('data', (chunk: string) => { text += chunk; });
    const proxy = (await eventually(() => /"address":"([^"]+)","msg":"proxy listening"/.exec(text), 'sluice to listen'))[1];
    const admin = (await eventually(() => /"address":"([^"]+)","msg":"admin listening"/.exec(text), 'the admin listener'))[1];
    await eventually(async () => (await fetch(`http://${admin}/readyz`)).ok, 'the backend to pass its first probe');
    return { sluice, output: () => text, proxy, admin };
  }

  /** `count` GETs, 16 at a time, each logged as a ~4.5 KB line (its user agent) with request id `${prefix}${n}`; `after(sent)` follows each 16. */
  async function sendLogged(proxy: string, prefix: string, count: number, after?: (sent: number) => Promise<void>): Promise<void> {
    const agent = 'a'.repeat(4500);
    const pool = new Pool(`http://${proxy}`, { connections: 16 });
    try {
      for (let i = 0; i < count; i += 16) {
        await Promise.all(Array.from({ length: Math.min(16, count - i) }, async (_, k) => {
          const res = await pool.request({ method: 'GET', path: '/', headers: { 'user-agent': agent, 'x-request-id': `${prefix}${i + k}` } });
          await res.body.text();
          expect(res.statusCode).to.equal(200);
        }));
        await after?.(i);
      }
    } finally {
      await pool.close();
    }
  }

  function parsed(text: string): { msg: string; requestId?: string }[] {
    return text.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as { msg: string; requestId?: string });
  }

  it('drops lines past its limit and counts them instead of buffering without bound, and says so when stdout drains', async () => {
    const { sluice, output, proxy } = await startOnPipe();
    // Stop reading: the pipe fills, and sluice's stdout keeps what it cannot write.
    sluice.stdout.pause();
    // About 4.5 KB per line: 2,000 lines are twice the 4 MiB sluice lets wait in stdout.
    const requests = 2000;
    await sendLogged(proxy, 'r', requests);
    sluice.stdout.resume();
    const notice = await eventually(() => output().split('\n').find((l) => l.includes('"msg":"access lines dropped"')), 'the dropped-lines notice');
    sluice.kill('SIGTERM');
    await once(sluice, 'exit');
    const logged = parsed(output()).filter((l) => l.msg === 'access').map((l) => l.requestId);
    const dropped = (JSON.parse(notice) as { dropped: number }).dropped;
    expect(dropped).to.be.greaterThan(0);
    expect(logged.length + dropped).to.equal(requests);
    expect(new Set(logged).size).to.equal(logged.length);
  });

  it('keeps the lines still queued for a slow stdout when it exits on SIGTERM (exit waits for stdout, up to 3 s), its own log lines whole beside them', async () => {
    const { sluice, output, proxy, admin } = await startOnPipe();
    sluice.stdout.pause();
    const reloadsApplied = async (): Promise<number> => {
      const metrics = await (await fetch(`http://${admin}/metrics`)).text();
      return Number(/sluice_config_reloads_total\{result="applied"\} (\d+)/.exec(metrics)?.[1] ?? NaN);
    };
    // ~1.4 MB of access lines: far more than a pipe holds, well under what sluice lets wait.
    const requests = 300;
    let reloads = 0;
    await sendLogged(proxy, 'q', requests, async (sent) => {
      // A reload logs a line of sluice's own while access batches wait for the full pipe.
      if (sent % 80 !== 0) return;
      sluice.kill('SIGHUP');
      reloads++;
      await eventually(async () => (await reloadsApplied()) === reloads, 'the reload to be applied');
    });
    sluice.kill('SIGTERM');
    // Shutdown is over once the admin port refuses; only then does reading resume.
    await eventually(async () => { try { await fetch(`http://${admin}/healthz`); return false; } catch { return true; } }, 'the admin port to close', 20_000);
    sluice.stdout.resume();
    const [code] = await once(sluice, 'exit') as [number];
    expect(code).to.equal(0);
    const lines = parsed(output());
    expect(lines.filter((l) => l.msg === 'access' && l.requestId?.startsWith('q')).length, 'access lines that reached stdout').to.equal(requests);
    expect(lines.filter((l) => l.msg === 'config reloaded').length, 'reload lines').to.equal(reloads);
  });
});
