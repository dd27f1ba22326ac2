// The policies with real backends and the real sluice: who gets how many requests, measured
// by counting responses, never by timing them.

import { expect } from 'chai';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { Agent, request } from 'undici';
import { eventually } from '../helpers/eventually.ts';
import { SluiceProcess } from '../helpers/sluice-process.ts';

/** A backend that answers after `delayMs`, or holds every request until released. */
class PolicyBackend {
  readonly name: string;
  delayMs = 0;
  hold = false;
  healthStatus = 200;
  hits = 0;
  inflight = 0;
  private readonly held: ServerResponse[] = [];
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  port = 0;

  constructor(name: string) {
    this.name = name;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  get heldCount(): number {
    return this.held.length;
  }

  async start(): Promise<this> {
    const server = createServer((req, res) => this.handle(req, res));
    server.on('connection', (s) => {
      this.sockets.add(s);
      s.once('close', () => this.sockets.delete(s));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    this.port = (server.address() as AddressInfo).port;
    this.server = server;
    return this;
  }

  release(): void {
    for (const res of this.held.splice(0)) this.answer(res);
  }

  async kill(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    for (const s of this.sockets) s.resetAndDestroy();
    await closed;
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    if (req.url === '/health') {
      res.writeHead(this.healthStatus).end();
      return;
    }
    this.hits++;
    this.inflight++;
    if (this.hold) this.held.push(res);
    else if (this.delayMs > 0) setTimeout(() => this.answer(res), this.delayMs);
    else this.answer(res);
  }

  private answer(res: ServerResponse): void {
    this.inflight--;
    res.writeHead(200, { 'x-backend': this.name, 'content-type': 'text/plain' }).end(`${this.name}\n`);
  }
}

interface Reply {
  status: number;
  backend: string;
  setCookie: string | undefined;
  at: number;
}

describe('balancing policies with real backends', function () {
  this.timeout(60_000);
  let backends: PolicyBackend[] = [];
  let sluice: SluiceProcess | undefined;
  const agent = new Agent({ keepAliveTimeout: 10_000, connections: 64 });

  async function start(count: number, extra: string, healthy = count): Promise<SluiceProcess> {
    backends = await Promise.all(Array.from({ length: count }, (_, i) => new PolicyBackend(`b${i + 1}`).start()));
    for (const b of backends) b.healthStatus = backends.indexOf(b) < healthy ? 200 : 503;
    // Probes patient enough for a loaded machine: a late probe must not empty the pool mid-test.
    sluice = new SluiceProcess([
      'listen: "127.0.0.1:0"',
      'admin:',
      '  listen: "127.0.0.1:0"',
      'healthCheck:',
      '  interval: 500ms',
      '  timeout: 500ms',
      '  healthyThreshold: 1',
      '  unhealthyThreshold: 5',
      extra,
      'backends:',
      ...backends.map((b) => `  - url: ${b.url}`),
      '',
    ].join('\n'));
    return sluice.start(healthy);
  }

  async function get(path = '/', headers: Record<string, string> = {}): Promise<Reply> {
    const res = await request(sluice!.proxyUrl + path, { headers, dispatcher: agent });
    const body = await res.body.text();
    const cookie = res.headers['set-cookie'];
    return { status: res.statusCode, backend: body.trim(), setCookie: Array.isArray(cookie) ? cookie[0] : cookie, at: Date.now() };
  }

  /** `total` requests from `clients` concurrent clients; replies in the order they came back. */
  async function run(clients: number, total: number, headers: () => Record<string, string> = () => ({})): Promise<Reply[]> {
    const replies: Reply[] = [];
    let issued = 0;
    await Promise.all(Array.from({ length: clients }, async () => {
      while (issued < total) {
        issued++;
        replies.push(await get('/', headers()));
      }
    }));
    return replies;
  }

  function shareOf(replies: Reply[], name: string): number {
    return replies.filter((r) => r.backend === name).length / replies.length;
  }

  afterEach(async () => {
    for (const b of backends) b.release();
    await sluice?.stop();
    await Promise.all(backends.map((b) => b.kill()));
    sluice = undefined;
    backends = [];
  });
  after(() => agent.close());

  describe('least-request', () => {
    it('gives a backend 10x slower than the others less than 10% of requests at 16 concurrent clients', async () => {
      await start(3, 'balancer: least-request');
      backends[0].delayMs = 50;
      backends[1].delayMs = 50;
      backends[2].delayMs = 500;
      const replies = await run(16, 1500);
      expect(replies.filter((r) => r.status !== 200).map((r) => r.status)).to.deep.equal([]);
      const slow = shareOf(replies, 'b3');
      if (process.env.SLUICE_PRINT_FIGURES) console.log(`      least-request: slow backend got ${(slow * 100).toFixed(1)}% of ${replies.length}`);
      expect(slow).to.be.below(0.1);
    });

    it('(control) round robin gives the same slow backend a third', async () => {
      await start(3, 'balancer: round-robin');
      backends[0].delayMs = 50;
      backends[1].delayMs = 50;
      backends[2].delayMs = 500;
      const replies = await run(16, 450);
      const slow = shareOf(replies, 'b3');
      if (process.env.SLUICE_PRINT_FIGURES) console.log(`      round-robin: slow backend got ${(slow * 100).toFixed(1)}% of ${replies.length}`);
      expect(slow).to.be.closeTo(1 / 3, 0.02);
    });
  });

  describe('consistent-hash', () => {
    it('sends one key to one backend across 1,000 requests, spreads keys, and moves a key only when its backend dies', async () => {
      await start(3, 'balancer:\n  policy: consistent-hash\n  hashOn: header:X-User-Id');
      const replies = await run(1, 1000, () => ({ 'x-user-id': 'alice' }));
      const home = replies[0].backend;
      expect(replies.filter((r) => r.backend === home && r.status === 200)).to.have.length(1000);
      const spread = new Set<string>();
      for (let k = 0; k < 30; k++) spread.add((await get('/', { 'x-user-id': `user-${k}` })).backend);
      expect(spread.size).to.equal(3);
      // Its backend dies: the retry skips it and the key settles on one other backend.
      await backends.find((b) => b.name === home)!.kill();
      const after = await run(1, 50, () => ({ 'x-user-id': 'alice' }));
      expect(after.every((r) => r.status === 200)).to.equal(true);
      expect(new Set(after.map((r) => r.backend)).size).to.equal(1);
      expect(after[0].backend).to.not.equal(home);
    });

    for (const [loadFactor, most] of [[1.25, 5], [0, 12]] as const) {
      it(`${loadFactor ? 'with loadFactor 1.25 a hot key cannot push one backend above 1.25x the mean' : '(control) with loadFactor 0 a hot key lands on one backend'} (12 requests held open)`, async () => {
        await start(3, `balancer:\n  policy: consistent-hash\n  hashOn: header:X-User-Id\n  loadFactor: ${loadFactor}`);
        for (const b of backends) b.hold = true;
        const pending = run(12, 12, () => ({ 'x-user-id': 'hot' }));
        await eventually(() => backends.reduce((n, b) => n + b.heldCount, 0) === 12, '12 requests held by the backends');
        const held = backends.map((b) => b.heldCount);
        if (process.env.SLUICE_PRINT_FIGURES) console.log(`      loadFactor ${loadFactor}: held per backend ${held.join('/')}`);
        expect(Math.max(...held)).to.equal(most); // mean 4; 1.25 x 4 = 5
        for (const b of backends) b.release();
        expect((await pending).every((r) => r.status === 200)).to.equal(true);
      });
    }
  });

  describe('stickySession', () => {
    it('holds a client on its backend and re-pins it after that backend dies', async () => {
      await start(3, 'stickySession:\n  cookie: pin\n  ttl: 10m\ntrustedProxies: ["127.0.0.1/32"]');
      const first = await get();
      expect(first.setCookie).to.match(/^pin=[A-Za-z0-9_-]{16}; Path=\/; Max-Age=600; HttpOnly; SameSite=Lax$/);
      expect(first.setCookie).to.not.include(String(backends[0].port));
      const cookie = first.setCookie!.split(';')[0];
      const pinned = await run(4, 40, () => ({ cookie }));
      expect(pinned.every((r) => r.backend === first.backend && r.setCookie === undefined)).to.equal(true);
      // Without the cookie, round robin as usual.
      expect(new Set((await run(1, 6)).map((r) => r.backend)).size).to.equal(3);
      // Through a trusted proxy that terminated TLS the cookie is Secure.
      expect((await get('/', { 'x-forwarded-proto': 'https' })).setCookie).to.match(/; Secure$/);

      await backends.find((b) => b.name === first.backend)!.kill();
      const moved = await get('/', { cookie });
      expect(moved.status).to.equal(200);
      expect(moved.backend).to.not.equal(first.backend);
      expect(moved.setCookie).to.match(/^pin=/);
      const repinned = moved.setCookie!.split(';')[0];
      expect(repinned).to.not.equal(cookie);
      const after = await run(2, 20, () => ({ cookie: repinned }));
      expect(after.every((r) => r.backend === moved.backend && r.status === 200)).to.equal(true);
    });
  });

  describe('slowStart', () => {
    it('ramps the share of a backend that just became healthy over the window', async () => {
      const windowMs = 4500;
      await start(3, `slowStart: ${windowMs}ms`, 2);
      for (const b of backends) b.delayMs = 2;
      // The first two ramp too (they just became healthy): wait until they are past their window.
      await eventually(async () => (await sluice!.status()).backends.filter((b) => b.healthy)
        .every((b) => Date.now() - Date.parse(String(b.since)) > windowMs), 'the first backends past their ramp', 3 * windowMs);
      backends[2].healthStatus = 200;
      const status = await sluice!.waitForHealthy(3);
      const since = Date.parse(String(status.backends.find((b) => b.url === backends[2].url)!.since));
      const replies: Reply[] = [];
      await Promise.all(Array.from({ length: 4 }, async () => {
        while (Date.now() < since + windowMs + 1500) replies.push(await get());
      }));
      const shareIn = (from: number, to: number): number => shareOf(replies.filter((r) => r.at >= since + from && r.at < since + to), 'b3');
      const thirds = [shareIn(0, windowMs / 3), shareIn(windowMs / 3, (2 * windowMs) / 3), shareIn((2 * windowMs) / 3, windowMs)];
      const afterwards = shareIn(windowMs + 300, windowMs + 1500);
      if (process.env.SLUICE_PRINT_FIGURES) console.log(`      slow start share by third of the window: ${thirds.map((s) => (s * 100).toFixed(1) + '%').join(' → ')}, after: ${(afterwards * 100).toFixed(1)}%`);
      expect(thirds[0]).to.be.below(0.2);
      expect(thirds[0]).to.be.below(thirds[1]);
      expect(thirds[1]).to.be.below(thirds[2]);
      expect(afterwards).to.be.closeTo(1 / 3, 0.05);
    });
  });
});
