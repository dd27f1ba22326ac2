import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { constants } from 'node:http2';
import { connect } from 'node:net';
import { promisify } from 'node:util';
import { request } from 'undici';
import { eventually } from '../helpers/eventually.ts';
import { harnessPerSuite, harnessPerTest } from '../helpers/harness.ts';
import { H2Client } from '../helpers/h2-client.ts';

interface Echo {
  backend: string;
  method: string;
  url: string;
  headers: Record<string, string>;
  rawHeaders: string[];
}

describe('HTTP/2 with prior knowledge on the proxy port (e2e)', () => {
  const h = harnessPerSuite(3, { extra: 'accessLog: true\ntimeouts:\n  response: 500ms' });
  let client: H2Client;
  beforeEach(async () => { client = await H2Client.open(h.sluice.proxyUrl); });
  afterEach(() => client.close());

  it('serves HTTP/2 and HTTP/1.1 on the same port', async () => {
    const [h2, h1] = await Promise.all([client.request('/'), request(`${h.sluice.proxyUrl}/`)]);
    expect(h2.status).to.equal(200);
    expect(h2.text).to.match(/^b\d\n$/);
    expect(h1.statusCode).to.equal(200);
    expect(await h1.body.text()).to.match(/^b\d\n$/);
  });

  it('answers curl --http2-prior-knowledge', async () => {
    const { stdout } = await promisify(execFile)('curl', ['-sS', '--http2-prior-knowledge', '-o', '/dev/null', '-w', '%{http_version} %{http_code}', `${h.sluice.proxyUrl}/`]);
    expect(stdout).to.equal('2 200');
  });

  it('balances each request of one HTTP/2 connection on its own, not the connection', async () => {
    const before = h.backends.map((b) => b.hits);
    const answers = await Promise.all(Array.from({ length: 30 }, () => client.request('/')));
    expect(answers.every((a) => a.status === 200)).to.equal(true);
    expect(h.backends.map((b, i) => b.hits - before[i])).to.deep.equal([10, 10, 10]);
  });

  it('never passes pseudo-headers on to an HTTP/1.1 backend; :authority becomes Host', async () => {
    const answer = await client.request('/echo?q=1', { ':authority': 'app.example.test', te: 'trailers', cookie: ['a=1', 'b=2'], 'x-custom': 'kept' });
    const echo = JSON.parse(answer.text) as Echo;
    expect(echo.url).to.equal('/echo?q=1');
    expect(echo.rawHeaders.filter((_, i) => i % 2 === 0 && echo.rawHeaders[i].startsWith(':'))).to.deep.equal([]);
    expect(echo.headers.host).to.equal('app.example.test');
    expect(echo.headers['x-forwarded-host']).to.equal('app.example.test');
    expect(echo.headers['x-forwarded-proto']).to.equal('http');
    expect(echo.headers['x-forwarded-for']).to.equal('127.0.0.1');
    expect(echo.headers.cookie).to.equal('a=1; b=2');
    expect(echo.headers['x-custom']).to.equal('kept');
    expect(echo.headers).to.not.have.property('te');
    // The backend's hop-by-hop answer headers (Connection, Keep-Alive) are not HTTP/2 fields.
    expect(answer.headers['x-backend']).to.equal(echo.backend);
    expect(answer.headers).to.not.have.property('keep-alive');
    expect(answer.headers['x-request-id']).to.equal(echo.headers['x-request-id']);
  });

  it('streams request and response bodies of an HTTP/2 request', async () => {
    const upload = await client.request('/upload', { 'content-type': 'application/octet-stream' }, Buffer.alloc(3 * 1024 * 1024 + 17, 'u'));
    expect(JSON.parse(upload.text).bytes).to.equal(3 * 1024 * 1024 + 17);
    const download = await client.request(`/download?bytes=${8 * 1024 * 1024}`);
    expect(download.status).to.equal(200);
    expect(download.body.length).to.equal(8 * 1024 * 1024);
  });

  it('answers 504 for one stream whose backend does not answer in time, while the connection serves others', async () => {
    const slow = client.request('/hang');
    const quick = await client.request('/');
    expect(quick.status).to.equal(200);
    const answer = await slow;
    expect(answer.status).to.equal(504);
    expect((await client.request('/')).status).to.equal(200);
  });

  it('writes HTTP/2 requests to the access log and the metrics', async () => {
    const id = `h2-${Date.now()}`;
    const before = await requests2xx(h.sluice.adminUrl);
    await client.request('/respond?status=201', { ':authority': 'log.example.test', 'x-request-id': id });
    const line = await h.sluice.waitForLog((l) => l.msg === 'access' && l.requestId === id, 'the access line');
    expect(line).to.include({ method: 'GET', path: '/respond?status=201', status: 201, protocol: 'HTTP/2.0', host: 'log.example.test', attempts: 1 });
    expect(line.bytesOut).to.equal('b1 201\n'.length);
    expect(await requests2xx(h.sluice.adminUrl)).to.equal(before + 1);
    // An HTTP/2 connection counts as a client connection while it is open.
    const open = await clientConnections(h.sluice.adminUrl);
    const another = await H2Client.open(h.sluice.proxyUrl);
    await eventually(async () => await clientConnections(h.sluice.adminUrl) === open + 1, 'one more client connection');
    await another.close();
    await eventually(async () => await clientConnections(h.sluice.adminUrl) === open, 'that connection gone');
  });
});

async function clientConnections(adminUrl: string): Promise<number> {
  const text = await (await fetch(`${adminUrl}/metrics`)).text();
  return Number(/^sluice_client_connections (\d+)$/m.exec(text)?.[1]);
}

describe('HTTP/2 requests the compat layer used to answer for sluice (e2e)', () => {
  const h = harnessPerSuite(1);
  let client: H2Client;
  beforeEach(async () => { client = await H2Client.open(h.sluice.proxyUrl); });
  afterEach(() => client.close());

  it('answers a HEAD request with the head alone, and the connection goes on', async () => {
    const head = await client.request('/download?bytes=1000', {}, undefined, 'HEAD');
    expect(head.status).to.equal(200);
    expect(head.headers['content-length']).to.equal('1000');
    expect(head.body.length).to.equal(0);
    expect((await client.request('/')).status).to.equal(200);
  });

  it('answers Expect: 100-continue with 100 at once, then forwards the body', async () => {
    const stream = client.session.request({ ':method': 'POST', ':path': '/upload', expect: '100-continue' });
    await new Promise<void>((resolve, reject) => {
      stream.once('continue', () => resolve());
      stream.once('response', (headers) => reject(new Error(`a final answer (${headers[':status']}) before 100`)));
      stream.once('error', reject);
    });
    const answer = H2Client.answer(stream);
    stream.end(Buffer.alloc(5000, 'c'));
    const { status, text } = await answer;
    expect(status).to.equal(200);
    expect(JSON.parse(text).bytes).to.equal(5000);
  });

  it('answers 417 to an expectation it cannot meet, without asking a backend', async () => {
    const before = h.backends[0].hits;
    const answer = await client.request('/upload', { expect: 'something-else' }, 'x');
    expect(answer.status).to.equal(417);
    expect(h.backends[0].hits).to.equal(before);
  });

  it('a client that resets its stream mid-upload cuts only that upload: nothing stays in flight, the connection serves on', async () => {
    const stream = client.session.request({ ':method': 'POST', ':path': '/upload' });
    stream.on('error', () => {});
    stream.write(Buffer.alloc(64 * 1024, 'u'));
    await eventually(async () => ((await h.sluice.status()).backends[0].inflight === 1 ? true : undefined), 'the upload in flight');
    stream.close(constants.NGHTTP2_CANCEL);
    await eventually(async () => ((await h.sluice.status()).backends[0].inflight === 0 ? true : undefined), 'nothing in flight after the reset');
    const answer = await client.request('/upload', {}, Buffer.alloc(1000, 'v'));
    expect(JSON.parse(answer.text).bytes).to.equal(1000);
  });
});

async function requests2xx(adminUrl: string): Promise<number> {
  const text = await (await fetch(`${adminUrl}/metrics`)).text();
  let sum = 0;
  for (const m of text.matchAll(/^sluice_requests_total\{[^}]*code="2xx"[^}]*\} (\d+)$/gm)) sum += Number(m[1]);
  return sum;
}

describe('HTTP/2 request failures (e2e)', () => {
  const h = harnessPerTest();

  it('retries an HTTP/2 request on another backend when one is down', async () => {
    await h.start(2);
    await h.backends[0].kill();
    const client = await H2Client.open(h.sluice.proxyUrl);
    try {
      for (let i = 0; i < 6; i++) {
        const answer = await client.request('/');
        expect(answer.status).to.equal(200);
        expect(answer.text).to.equal('b2\n');
      }
    } finally {
      await client.close();
    }
  });

  it('answers 503 over HTTP/2 when no backend is up', async () => {
    await h.start(1);
    h.backends[0].healthStatus = 500;
    await h.sluice.waitForHealthy(0);
    const client = await H2Client.open(h.sluice.proxyUrl);
    try {
      const answer = await client.request('/');
      expect(answer.status).to.equal(503);
      expect(answer.text).to.include('no healthy backend');
    } finally {
      await client.close();
    }
  });
});

describe('HTTP/2 connection limits and timeouts (e2e)', () => {
  const h = harnessPerTest();

  it('announces limits.maxConcurrentStreams and holds a client to it', async () => {
    await h.start(1, { extra: 'limits:\n  maxConcurrentStreams: 2' });
    const client = await H2Client.open(h.sluice.proxyUrl);
    try {
      await eventually(() => client.session.remoteSettings.maxConcurrentStreams === 2, 'the server settings');
      // Two slow streams fill the connection; the third may start only once one of them is done.
      const order: string[] = [];
      const slow = [0, 1].map(() => client.request('/slow?ms=400').then(() => order.push('slow')));
      await eventually(() => h.backends[0].hits === 2, 'two slow streams at the backend');
      await client.request('/').then(() => order.push('quick'));
      await Promise.all(slow);
      expect(order[0]).to.equal('slow');
    } finally {
      await client.close();
    }
  });

  it('closes an HTTP/2 connection that has no stream open for timeouts.clientIdle', async () => {
    await h.start(1, { extra: 'timeouts:\n  clientIdle: 300ms' });
    const client = await H2Client.open(h.sluice.proxyUrl);
    const goaway = new Promise<void>((resolve) => client.session.once('goaway', () => resolve()));
    const closed = new Promise<void>((resolve) => client.session.once('close', () => resolve()));
    expect((await client.request('/')).status).to.equal(200);
    await goaway;
    await closed;
  });

  it('keeps an HTTP/2 connection whose one stream waits longer than timeouts.clientIdle', async () => {
    await h.start(1, { extra: 'timeouts:\n  clientIdle: 200ms' });
    const client = await H2Client.open(h.sluice.proxyUrl);
    try {
      const answer = await client.request('/slow?ms=700');
      expect(answer.status).to.equal(200);
      expect(answer.text).to.equal('b1 slow 700\n');
    } finally {
      await client.close();
    }
  });

  it('on SIGTERM sends GOAWAY and lets the in-flight HTTP/2 stream finish', async () => {
    await h.start(1, { extra: 'shutdown:\n  drainTimeout: 10s' });
    const client = await H2Client.open(h.sluice.proxyUrl);
    try {
      const goaway = new Promise<void>((resolve) => client.session.once('goaway', () => resolve()));
      const slow = client.request('/slow?ms=800');
      await eventually(() => h.backends[0].hits === 1, 'the slow request at the backend');
      h.sluice.signal('SIGTERM');
      await goaway;
      const answer = await slow;
      expect(answer.status).to.equal(200);
      expect(answer.text).to.equal('b1 slow 800\n');
      expect(await h.sluice.waitForExit()).to.equal(0);
    } finally {
      await client.close();
    }
  });
});

describe('the shared HTTP/1.1 and HTTP/2 port (e2e)', () => {
  const h = harnessPerSuite(1, { extra: 'timeouts:\n  clientHeader: 300ms' });

  /** Connects, writes `text`, and resolves with everything the server said until it closed. */
  function stall(text: string): Promise<string> {
    const address = h.sluice.proxy;
    const port = Number(address.slice(address.lastIndexOf(':') + 1));
    return new Promise((resolve, reject) => {
      const socket = connect(port, '127.0.0.1', () => { if (text) socket.write(text); });
      let answer = '';
      socket.setEncoding('utf8');
      socket.on('data', (chunk) => { answer += chunk; });
      socket.on('close', () => resolve(answer));
      socket.on('error', reject);
    });
  }

  it('answers 408 to an HTTP/1.1 request head that does not arrive within timeouts.clientHeader', async () => {
    expect(await stall('GET / HTTP/1.1\r\nHost: x\r\n')).to.match(/^HTTP\/1\.1 408/);
  });

  it('closes a connection that sends nothing within timeouts.clientHeader', async () => {
    expect(await stall('')).to.equal('');
  });

  it('waits for the rest of a preface that arrives in pieces', async () => {
    const client = new H2Client(h.sluice.proxyUrl, {
      createConnection: () => {
        const port = Number(h.sluice.proxy.slice(h.sluice.proxy.lastIndexOf(':') + 1));
        const socket = connect(port, '127.0.0.1');
        // The preface's first bytes alone: what sluice sees cannot yet be told from HTTP/1.1's "PRI" method.
        const write = socket.write.bind(socket) as (chunk: Buffer, cb?: () => void) => boolean;
        let first = true;
        socket.write = ((chunk: Buffer, ...rest: unknown[]) => {
          if (first && Buffer.isBuffer(chunk) && chunk.length > 5) {
            first = false;
            write(chunk.subarray(0, 5));
            setImmediate(() => write(chunk.subarray(5), rest.find((r) => typeof r === 'function') as (() => void) | undefined));
            return true;
          }
          return write(chunk, rest.find((r) => typeof r === 'function') as (() => void) | undefined);
        }) as typeof socket.write;
        return socket;
      },
    });
    try {
      expect((await client.request('/')).status).to.equal(200);
    } finally {
      await client.close();
    }
  });
});
