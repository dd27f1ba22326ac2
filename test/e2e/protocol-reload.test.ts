import { expect } from 'chai';
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createH2Server, type Http2ServerRequest, type Http2ServerResponse, type ServerHttp2Session } from 'node:http2';
import { createServer as createNetServer, type Socket } from 'node:net';
import { duplexPair } from 'node:stream';
import { request } from 'undici';
import { eventually } from '../helpers/eventually.ts';
import { LoadLoop } from '../helpers/load.ts';
import { closeAbruptly, listenOnLoopback, trackSockets } from '../helpers/loopback.ts';
import { SluiceProcess, testPreamble } from '../helpers/sluice-process.ts';

const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');

/**
 * One port, both protocols, as servers that take gRPC and HTTP/1.1 side by side do: HTTP/2 with
 * prior knowledge when a connection opens with the HTTP/2 preface, HTTP/1.1 otherwise. Answers
 * the protocol a request came over ("HTTP/1.1", "HTTP/2.0"), also in x-backend; /held waits for
 * release(); /health answers 200.
 */
class DualProtocolBackend {
  port = 0;
  private readonly held: { end(body: string): unknown }[] = [];
  private readonly h1 = createHttpServer((req, res) => this.handle(req, res));
  private readonly h2 = createH2Server((req, res) => this.handle(req, res));
  private readonly server = createNetServer((socket) => this.sniff(socket));
  private readonly sockets = new Set<Socket>();
  private readonly sessions = new Set<ServerHttp2Session>();

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  get heldCount(): number {
    return this.held.length;
  }

  async start(): Promise<this> {
    trackSockets(this.server, this.sockets);
    this.h2.on('session', (session: ServerHttp2Session) => {
      this.sessions.add(session);
      session.once('close', () => this.sessions.delete(session));
      session.on('error', () => {});
    });
    this.port = await listenOnLoopback(this.server);
    return this;
  }

  release(): void {
    for (const res of this.held.splice(0)) res.end('released');
  }

  async kill(): Promise<void> {
    for (const session of this.sessions) session.destroy();
    await closeAbruptly(this.server, this.sockets);
  }

  private sniff(socket: Socket): void {
    let first = Buffer.alloc(0);
    const onData = (chunk: Buffer): void => {
      first = Buffer.concat([first, chunk]);
      const n = Math.min(first.length, PREFACE.length);
      const h2 = first.subarray(0, n).equals(PREFACE.subarray(0, n));
      if (h2 && n < PREFACE.length) return;
      socket.off('data', onData);
      socket.pause();
      if (!h2) {
        socket.unshift(first);
        this.h1.emit('connection', socket);
        socket.resume();
        return;
      }
      // Node's http2 reads a net.Socket's handle itself, past anything unshifted: it gets a pipe.
      const [inner, outer] = duplexPair();
      outer.write(first);
      socket.pipe(outer).pipe(socket);
      socket.on('error', () => outer.destroy());
      socket.once('close', () => outer.destroy());
      outer.on('error', () => socket.destroy());
      outer.once('close', () => socket.destroy());
      this.h2.emit('connection', inner);
    };
    socket.on('data', onData);
    socket.on('error', () => {});
  }

  private handle(req: IncomingMessage | Http2ServerRequest, res: ServerResponse | Http2ServerResponse): void {
    const out = res as { writeHead(status: number, headers: Record<string, string>): unknown; end(body?: string): unknown };
    req.resume();
    if (req.url === '/health') {
      out.end('ok\n');
      return;
    }
    const protocol = `HTTP/${req.httpVersion}`;
    out.writeHead(200, { 'content-type': 'text/plain', 'x-backend': protocol });
    if (req.url === '/held') this.held.push(out);
    else out.end(protocol);
  }
}

function config(url: string, protocol?: string): string {
  return [...testPreamble(), 'backends:', `  - url: ${url}`, ...(protocol ? [`    protocol: ${protocol}`] : []), ''].join('\n');
}

describe('a backend\'s protocol changed by a config reload (e2e)', function () {
  this.timeout(30_000);
  let backend: DualProtocolBackend | undefined;
  let sluice: SluiceProcess | undefined;
  let load: LoadLoop | undefined;

  afterEach(async () => {
    await load?.stop();
    load = undefined;
    backend?.release();
    await sluice?.stop();
    sluice = undefined;
    await backend?.kill();
    backend = undefined;
  });

  /** Sequential requests from the test itself: the protocol each one reached the backend over. */
  async function protocols(proxyUrl: string, count: number): Promise<string[]> {
    const out: string[] = [];
    for (let i = 0; i < count; i++) {
      const res = await request(`${proxyUrl}/`);
      expect(res.statusCode).to.equal(200);
      out.push(await res.body.text());
    }
    return out;
  }

  it('speaks h2c to a live backend from the reload that says protocol: h2c on, and HTTP/1.1 again once it no longer does, without a failed request', async () => {
    backend = await new DualProtocolBackend().start();
    const url = backend.url;
    sluice = await new SluiceProcess(config(url)).start(1);
    const s = sluice;
    load = new LoadLoop(`${s.proxyUrl}/`, 4, 200_000, 25_000).start();
    await eventually(() => load!.ok > 100, 'load over HTTP/1.1 to get going');
    // A request in flight on the HTTP/1.1 connections when the protocol changes.
    const inFlight = request(`${s.proxyUrl}/held`);
    await eventually(() => backend!.heldCount === 1, 'the held request to reach the backend');
    const before = (await s.backend(url))!;

    s.rewriteConfig(config(url, 'h2c'));
    await s.waitForLog((l) => l.msg === 'backend protocol changed' && l.protocol === 'h2c', 'the switch to h2c');
    expect(await protocols(s.proxyUrl, 20), 'requests sent after the reload').to.deep.equal(Array(20).fill('HTTP/2.0'));
    const h2Seen = load.result.byBackend.get('HTTP/2.0') ?? 0;
    await eventually(() => (load!.result.byBackend.get('HTTP/2.0') ?? 0) > h2Seen + 100, 'the load to go on over HTTP/2');
    backend.release();
    const held = await inFlight;
    expect(held.statusCode).to.equal(200);
    expect(held.headers['x-backend'], 'the request in flight finishes on its HTTP/1.1 connection').to.equal('HTTP/1.1');
    expect(await held.body.text()).to.equal('released');

    const after = (await s.backend(url))!;
    expect(after.state, 'health kept across the switch').to.equal('healthy');
    expect(after.requests, 'counters kept across the switch').to.be.greaterThan(before.requests);
    expect(after.failures).to.equal(0);

    s.rewriteConfig(config(url));
    await s.waitForLog((l) => l.msg === 'backend protocol changed' && l.protocol === 'http1', 'the switch back to HTTP/1.1');
    expect(await protocols(s.proxyUrl, 20), 'requests sent after the second reload').to.deep.equal(Array(20).fill('HTTP/1.1'));
    const h1Seen = load.result.byBackend.get('HTTP/1.1') ?? 0;
    await eventually(() => (load!.result.byBackend.get('HTTP/1.1') ?? 0) > h1Seen + 100, 'the load to go on over HTTP/1.1');

    const result = await load.stop();
    load = undefined;
    expect(result.failures, result.failures.slice(0, 5).join('; ')).to.deep.equal([]);
    expect(s.logs.filter((l) => l.msg === 'config reloaded')).to.have.length(2);
    expect((await s.backend(url))?.state).to.equal('healthy');
  });
});
