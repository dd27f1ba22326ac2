import { expect } from 'chai';
import { status as grpcStatus, type Client } from '@grpc/grpc-js';
import { call, grpcConfig, chat, grpcClient, METHODS, startGrpcBackends, type GrpcBackend } from '../helpers/grpc-backend.ts';
import { eventually } from '../helpers/eventually.ts';
import { H2Client } from '../helpers/h2-client.ts';
import { SluiceProcess } from '../helpers/sluice-process.ts';

describe('gRPC balanced per call (e2e)', () => {
  let backends: GrpcBackend[] = [];
  let sluice: SluiceProcess | undefined;
  let client: Client | undefined;

  async function start(count: number, extra = '', healthy = count, urls?: string[]): Promise<Client> {
    backends = await startGrpcBackends(count);
    sluice = await new SluiceProcess(grpcConfig(urls ?? backends.map((b) => b.url), extra)).start(healthy);
    client = grpcClient(sluice.proxy);
    return client;
  }

  afterEach(async () => {
    client?.close();
    client = undefined;
    await sluice?.stop();
    sluice = undefined;
    await Promise.all(backends.map((b) => b.kill()));
    backends = [];
  });

  it('spreads 3,000 unary calls from one client channel evenly over three backends', async () => {
    const c = await start(3);
    let failed = 0;
    for (let batch = 0; batch < 30; batch++) {
      const results = await Promise.all(Array.from({ length: 100 }, (_, i) => call(c, METHODS.unary, `${batch}-${i}`)));
      failed += results.filter((r) => r.error !== undefined).length;
    }
    expect(failed).to.equal(0);
    for (const b of backends) expect(b.calls, b.name).to.be.within(950, 1050);
    // One channel: all of it came over one client connection.
    const metrics = await (await fetch(`${sluice!.adminUrl}/metrics`)).text();
    expect(metrics).to.match(/^sluice_client_connections 1$/m);
  });

  it('passes a backend\'s gRPC status, message and trailers through', async () => {
    const c = await start(1);
    const result = await call(c, METHODS.fail);
    expect(result.error?.code).to.equal(grpcStatus.NOT_FOUND);
    expect(result.error?.details).to.equal('no such thing');
    expect(result.error?.metadata.get('x-backend')).to.deep.equal(['g1']);
  });

  it('streams a bidirectional call both ways at once: each answer comes before the next message is sent', async () => {
    const c = await start(1);
    const stream = chat(c);
    const answers: string[] = [];
    const next = (): Promise<string> => new Promise((resolve) => stream.once('data', (m: Buffer) => resolve(m.toString())));
    for (const message of ['one', 'two', 'three']) {
      const answer = next();
      stream.write(Buffer.from(message));
      answers.push(await answer);
    }
    const ended = new Promise<void>((resolve, reject) => {
      stream.on('status', (s: { code: number }) => (s.code === grpcStatus.OK ? resolve() : reject(new Error(`status ${s.code}`))));
    });
    stream.end();
    stream.resume();
    await ended;
    expect(answers).to.deep.equal(['g1:one', 'g1:two', 'g1:three']);
  });

  it('answers UNAVAILABLE (14) in gRPC form when no backend is up', async () => {
    const c = await start(1, '', 0, ['http://127.0.0.1:1']);
    const result = await call(c, METHODS.unary);
    expect(result.error?.code).to.equal(grpcStatus.UNAVAILABLE);
    expect(result.error?.details).to.include('no healthy backend');
  });

  it('answers DEADLINE_EXCEEDED (4) in gRPC form when the backend does not answer within timeouts.response', async () => {
    const c = await start(1, 'timeouts:\n  response: 300ms');
    const result = await call(c, METHODS.hang);
    expect(result.error?.code).to.equal(grpcStatus.DEADLINE_EXCEEDED);
    expect(result.error?.details).to.include('did not answer in time');
  });

  it('ends a call at its grpc-timeout with DEADLINE_EXCEEDED, without blaming the backend, even if the caller waits on', async () => {
    await start(1);
    // A raw HTTP/2 caller that sends grpc-timeout but does not cancel by itself, unlike grpc-js.
    const h2 = await H2Client.open(`http://${sluice!.proxy}`);
    try {
      const answer = await h2.request('/test.Echo/Hang', { 'content-type': 'application/grpc', te: 'trailers', 'grpc-timeout': '300m' }, Buffer.from([0, 0, 0, 0, 2, 0x68, 0x69]));
      expect(answer.status).to.equal(200);
      expect(answer.headers['grpc-status'] ?? answer.trailers['grpc-status']).to.equal('4');
    } finally {
      await h2.close();
    }
    const b = await sluice!.backend(backends[0].url);
    expect(b?.failures, 'failures counted against the backend').to.equal(0);
    expect(b?.state).to.equal('healthy');
    await eventually(async () => (await sluice!.backend(backends[0].url))?.inflight === 0, 'inflight to return to 0');
  });

  it('takes a backend whose gRPC health check says NOT_SERVING out, and back', async () => {
    const c = await start(2);
    backends[0].serving = false;
    await sluice!.waitForHealthy(1);
    const before = backends.map((b) => b.calls);
    for (let i = 0; i < 6; i++) expect((await call(c, METHODS.unary)).value).to.match(/^g2:/);
    expect(backends[0].calls).to.equal(before[0]);
    const status = await sluice!.backend(backends[0].url);
    expect(status?.lastProbe?.error).to.include('not serving');
    backends[0].serving = true;
    await sluice!.waitForHealthy(2);
  });
});
