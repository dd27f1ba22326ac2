import { expect } from 'chai';
import { status as grpcStatus, type Client } from '@grpc/grpc-js';
import { call, grpcConfig, grpcClient, GrpcBackend, H2GrpcBackend, METHODS, type CallResult } from '../helpers/grpc-backend.ts';
import { eventually } from '../helpers/eventually.ts';
import { SluiceProcess } from '../helpers/sluice-process.ts';

describe('HTTP/2 backends that drain (GOAWAY) or refuse streams (e2e)', function () {
  this.timeout(30_000);
  let backends: { url: string; kill(): Promise<void> }[] = [];
  let sluice: SluiceProcess | undefined;
  let client: Client | undefined;

  async function start(...started: { url: string; kill(): Promise<void> }[]): Promise<Client> {
    backends = started;
    sluice = await new SluiceProcess(grpcConfig(started.map((b) => b.url), 'passiveHealth:\n  consecutiveFailures: 2')).start(started.length);
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

  it('sends the calls a draining backend did not process (beyond its GOAWAY last stream id) to another backend, and finishes those it did', async () => {
    const draining = await new H2GrpcBackend('d').start();
    const other = await new GrpcBackend('g').start();
    const c = await start(draining, other);
    draining.mode = 'hold';
    const calls = Array.from({ length: 8 }, (_, i) => call(c, METHODS.unary, `m${i}`));
    await eventually(() => draining.held.length >= 3 && draining.held.length + other.calls === 8 && draining.held.every((h) => h.message !== undefined), 'the draining backend to hold its share of the calls, bodies read');
    const { processed, notProcessed } = draining.goAway(1);
    const results: CallResult[] = await Promise.all(calls);

    expect(results.map((r) => r.error?.details ?? r.error?.code), 'failed calls').to.deep.equal(results.map(() => undefined));
    const answer = (message: string | undefined): string | undefined => results.find((r) => r.value?.endsWith(`:${message}`))?.value;
    for (const held of processed) expect(answer(held.message)).to.equal(`d:${held.message}`);
    for (const held of notProcessed) expect(answer(held.message), 'a call the draining backend did not process').to.equal(`g:${held.message}`);
    expect(draining.answered).to.equal(processed.length);

    const status = await sluice!.backend(draining.url);
    expect(status?.failures, 'failures counted against the draining backend').to.equal(0);
    expect(status?.state).to.equal('healthy');
  });

  it('answers UNAVAILABLE for a call the draining backend did not process when its body was more than sluice keeps (256 KiB)', async () => {
    const draining = await new H2GrpcBackend('d').start();
    const other = await new GrpcBackend('g').start();
    const c = await start(draining, other);
    draining.mode = 'hold';
    // A small call held first, then a big one: the GOAWAY covers the small one only (Node's
    // http2 cannot send a last stream id of 0, it sends the last one it saw instead).
    const calls: Promise<CallResult>[] = [];
    for (let i = 0; i < 4 && draining.held.length < 1; i++) {
      calls.push(call(c, METHODS.unary, `small${i}`));
      await eventually(() => draining.held.length + other.calls === calls.length, 'the call to arrive');
    }
    const big = `big${'x'.repeat(300 * 1024)}`;
    for (let i = 0; i < 4 && draining.held.length < 2; i++) {
      calls.push(call(c, METHODS.unary, big));
      await eventually(() => draining.held.length + other.calls === calls.length, 'the call to arrive');
    }
    await eventually(() => draining.held.every((h) => h.message !== undefined), 'the held calls\' bodies read');
    const { processed, notProcessed } = draining.goAway(1);
    expect(processed[0].message).to.match(/^small/);
    expect(notProcessed[0].message).to.equal(big);
    const results = await Promise.all(calls);
    const failed = results.filter((r) => r.error !== undefined);
    expect(failed.length).to.equal(1);
    expect(failed[0].error?.code).to.equal(grpcStatus.UNAVAILABLE);
    expect(results.filter((r) => r.value?.startsWith('d:'))).to.have.length(1);
    expect((await sluice!.backend(draining.url))?.failures).to.equal(0);
  });

  it('sends a call refused with REFUSED_STREAM to another backend, and does not count it against the refusing one', async () => {
    const refusing = await new H2GrpcBackend('r').start();
    const other = await new GrpcBackend('g').start();
    const c = await start(refusing, other);
    refusing.mode = 'refuse';
    for (let i = 0; i < 8; i++) {
      const result = await call(c, METHODS.unary, `m${i}`);
      expect(result.error?.details, `call ${i}`).to.equal(undefined);
      expect(result.value).to.equal(`g:m${i}`);
    }
    expect(refusing.refused, 'calls the refusing backend was sent').to.be.at.least(3);
    expect(refusing.answered).to.equal(0);
    const status = await sluice!.backend(refusing.url);
    expect(status?.failures).to.equal(0);
    expect(status?.state, 'not ejected after refusing calls in a row').to.equal('healthy');
  });

  it('loses no call while a grpc-js backend shuts down gracefully under load (tryShutdown: GOAWAY, then no new connections)', async () => {
    const draining = await new GrpcBackend('d').start();
    const other = await new GrpcBackend('g').start();
    const c = await start(draining, other);
    let completed = 0;
    const failures: string[] = [];
    let drained = false;
    let afterDrain = 0;
    // Eight callers, each call after the last; bounded: they stop 200 calls after the drain, or at 3,000.
    const callers = Array.from({ length: 8 }, async (_, n) => {
      for (let i = 0; completed < 3_000 && afterDrain < 200; i++) {
        const result = await call(c, METHODS.unary, `${n}-${i}`);
        completed++;
        if (drained) afterDrain++;
        if (result.error !== undefined) failures.push(`${result.error.code} ${result.error.details}`);
      }
    });
    await eventually(() => completed >= 200, '200 calls before the drain');
    await draining.drain();
    drained = true;
    await Promise.all(callers);
    expect(failures).to.deep.equal([]);
    expect(afterDrain).to.be.at.least(200);
  });
});
