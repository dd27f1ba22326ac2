import { expect } from 'chai';
import { once } from 'node:events';
import { connect } from 'node:net';
import { status as grpcStatus, type Client, type ClientDuplexStream, type ClientReadableStream, type ClientWritableStream, type StatusObject } from '@grpc/grpc-js';
import { call, grpcConfig, chat, download, downloadMessage, grpcClient, METHODS, startGrpcBackends, upload, type GrpcBackend } from '../helpers/grpc-backend.ts';
import { eventually } from '../helpers/eventually.ts';
import { H2Client } from '../helpers/h2-client.ts';
import { SluiceProcess } from '../helpers/sluice-process.ts';

const KB = 1024;
const MB = 1024 * KB;

/** Reads a Download call, checking each message's index and filler; pauses after `pauseAfter` messages. */
class DownloadReader {
  received = 0;
  bytes = 0;
  bad = 0;
  details = '';
  readonly done: Promise<number>;
  readonly stream: ClientReadableStream<Buffer>;

  constructor(stream: ClientReadableStream<Buffer>, size: number, pauseAfter = Infinity) {
    this.stream = stream;
    stream.on('data', (message: Buffer) => {
      const index = this.received;
      if (message.length !== size || message.readUInt32BE(0) !== index || message[size - 1] !== index % 251) this.bad++;
      this.received++;
      this.bytes += message.length;
      if (this.received === pauseAfter) stream.pause();
    });
    // 'status' may come before the messages still buffered in the stream are read; an OK call also ends.
    const ended = new Promise<void>((resolve) => stream.once('end', () => resolve()));
    const status = new Promise<{ code: number; details: string }>((resolve) => stream.once('status', resolve));
    this.done = status.then(async (s) => {
      this.details = s.details;
      if (s.code === grpcStatus.OK) await ended;
      return s.code;
    });
    stream.on('error', () => {});
  }
}

/** Writes an Upload call's messages as fast as write() allows, waiting for 'drain' when it says so. */
class UploadWriter {
  written = 0;
  refusedWrites = 0;
  waitingForDrain = false;
  readonly stream: ClientWritableStream<Buffer>;
  readonly answer: Promise<string>;

  constructor(client: Client, count: number, size: number) {
    let stream!: ClientWritableStream<Buffer>;
    this.answer = new Promise((resolve, reject) => {
      stream = upload(client, (error, answer) => (error ? reject(error) : resolve(answer ?? '')));
    });
    this.stream = stream;
    const writeMore = (): void => {
      this.waitingForDrain = false;
      while (this.written < count) {
        const accepted = stream.write(downloadMessage(this.written, size));
        this.written++;
        if (!accepted) {
          this.refusedWrites++;
          this.waitingForDrain = true;
          stream.once('drain', writeMore);
          return;
        }
      }
      stream.end();
    };
    writeMore();
  }
}

/** A Chat call: one answer per message, and the call's final status. */
class ChatCall {
  readonly stream: ClientDuplexStream<Buffer, Buffer>;
  readonly status: Promise<StatusObject>;
  private readonly answers: string[] = [];
  private waiting: { resolve(answer: string): void; reject(err: Error): void } | undefined;

  constructor(client: Client) {
    this.stream = chat(client);
    this.status = new Promise((resolve) => this.stream.once('status', (status: StatusObject) => {
      // A call that ends while an answer is awaited fails that wait at once instead of leaving it hanging.
      this.waiting?.reject(new Error(`the call ended (status ${status.code}: ${status.details}) before the answer`));
      this.waiting = undefined;
      resolve(status);
    }));
    this.stream.on('error', () => {});
    this.stream.on('data', (message: Buffer) => {
      const answer = message.toString();
      if (this.waiting !== undefined) {
        const { resolve } = this.waiting;
        this.waiting = undefined;
        resolve(answer);
      } else this.answers.push(answer);
    });
  }

  /** Sends `message` and resolves with the answer to it. */
  say(message: string): Promise<string> {
    const answer = new Promise<string>((resolve, reject) => {
      const early = this.answers.shift();
      if (early !== undefined) resolve(early);
      else this.waiting = { resolve, reject };
    });
    this.stream.write(Buffer.from(message));
    return answer;
  }
}

describe('gRPC streaming with backpressure through sluice (e2e)', function () {
  this.timeout(30_000);
  let backends: GrpcBackend[] = [];
  let sluice: SluiceProcess | undefined;
  const clients: Client[] = [];

  async function start(count: number): Promise<Client> {
    backends = await startGrpcBackends(count);
    sluice = await new SluiceProcess(grpcConfig(backends.map((b) => b.url))).start(count);
    return channel();
  }

  /** Another client channel (its own HTTP/2 connection to sluice). */
  function channel(): Client {
    const client = grpcClient(sluice!.proxy);
    clients.push(client);
    return client;
  }

  /**
   * 16 MB downloaded through sluice on a channel of its own. Instead of a guessed sleep: a proxy
   * that read on where it should wait would move about as much on the stream under test meanwhile.
   */
  async function moveOtherBytes(): Promise<void> {
    const size = 64 * KB;
    const other = new DownloadReader(download(channel(), 256, size), size);
    expect(await other.done).to.equal(grpcStatus.OK);
    expect(other.received).to.equal(256);
  }

  afterEach(async () => {
    for (const client of clients.splice(0)) client.close();
    await sluice?.stop();
    sluice = undefined;
    await Promise.all(backends.map((b) => b.kill()));
    backends = [];
  });

  it('stops a server-streaming backend (write() returns false) while the client does not read, and delivers every message once it reads', async () => {
    const c = await start(1);
    const count = 1024;
    const size = 64 * KB; // 64 MB in all: far more than every buffer between the backend and the client
    const reader = new DownloadReader(download(c, count, size), size, 1);
    const progress = await eventually(() => {
      const p = backends[0].downloads[0];
      return reader.received >= 1 && p?.waitingForDrain ? p : undefined;
    }, 'the client to pause and the backend to wait for drain');
    await moveOtherBytes();
    expect(progress.waitingForDrain, 'the backend still waits for drain').to.equal(true);
    expect(progress.finished).to.equal(false);
    expect(progress.refusedWrites).to.be.greaterThan(0);
    expect(reader.received, 'messages the paused client holds').to.be.lessThan(64);
    const inTransit = (progress.written - reader.received) * size;
    expect(inTransit, 'bytes between the backend and the paused client').to.be.lessThan(8 * MB);

    reader.stream.resume();
    expect(await reader.done).to.equal(grpcStatus.OK);
    expect(reader.received).to.equal(count);
    expect(reader.bad).to.equal(0);
    expect(progress.finished).to.equal(true);
  });

  it('delivers the last messages of a server stream whose trailers reach sluice while it waits for a paused client', async () => {
    const c = await start(1);
    // 128 KB in all: the whole answer and its trailers fit into the windows and buffers on the way,
    // so they are all at sluice while sluice holds the stream for the client.
    const count = 32;
    const size = 4 * KB;
    const reader = new DownloadReader(download(c, count, size), size, 1);
    await eventually(() => reader.received >= 1 && backends[0].downloads[0]?.finished, 'the backend to finish while the client is paused');
    await moveOtherBytes();
    reader.stream.resume();
    expect(await reader.done).to.equal(grpcStatus.OK);
    expect(reader.received, 'messages received').to.equal(count);
    expect(reader.bad).to.equal(0);
  });

  it('stops a client-streaming caller (write() returns false) while the backend does not read, and delivers every message once it reads', async () => {
    const c = await start(1);
    backends[0].holdUploads = true;
    const count = 4096;
    const size = 16 * KB;
    const writer = new UploadWriter(c, count, size);
    await eventually(() => backends[0].uploads.length === 1 && writer.waitingForDrain, 'the caller to wait for drain');
    await moveOtherBytes();
    expect(writer.waitingForDrain, 'the caller still waits for drain').to.equal(true);
    expect(writer.refusedWrites).to.be.greaterThan(0);
    const upload = backends[0].uploads[0];
    expect(upload.messages, 'messages the holding backend read').to.equal(0);
    expect(writer.written * size, 'bytes between the caller and the holding backend').to.be.lessThan(4 * MB);

    upload.release();
    expect(await writer.answer).to.equal(`g1:${count}:${count * size}`);
    expect(upload.outOfOrder).to.equal(0);
  });
});

describe('gRPC streams when a backend or sluice goes away (e2e)', function () {
  this.timeout(30_000);
  let backends: GrpcBackend[] = [];
  let sluice: SluiceProcess | undefined;
  let client: Client | undefined;

  afterEach(async () => {
    client?.close();
    client = undefined;
    await sluice?.stop();
    sluice = undefined;
    await Promise.all(backends.map((b) => b.kill()));
    backends = [];
  });

  it('ends only the streams on a killed backend, with UNAVAILABLE and a message; the others go on and new calls go to the survivor', async () => {
    backends = await startGrpcBackends(2);
    sluice = await new SluiceProcess(grpcConfig(backends.map((b) => b.url))).start(2);
    client = grpcClient(sluice.proxy);
    const chats = Array.from({ length: 4 }, () => new ChatCall(client!));
    const first = await Promise.all(chats.map((c, i) => c.say(`hello ${i}`)));
    const onG1 = chats.filter((_, i) => first[i].startsWith('g1:'));
    const onG2 = chats.filter((_, i) => first[i].startsWith('g2:'));
    expect(onG1.length).to.equal(2);
    expect(onG2.length).to.equal(2);

    await backends[0].kill();
    for (const c of onG1) {
      const status = await c.status;
      expect(status.code, status.details).to.equal(grpcStatus.UNAVAILABLE);
      expect(status.details).to.match(/backend/i);
    }
    for (const c of onG2) expect(await c.say('still there?')).to.equal('g2:still there?');
    for (const c of onG2) c.stream.end();
    for (const c of onG2) expect((await c.status).code).to.equal(grpcStatus.OK);
    for (let i = 0; i < 4; i++) expect((await call(client, METHODS.unary, `after ${i}`)).value).to.equal(`g2:after ${i}`);
  });

  it('on SIGTERM sends GOAWAY and lets an open bidirectional stream go on until the caller ends it', async () => {
    backends = await startGrpcBackends(1);
    sluice = await new SluiceProcess(grpcConfig(backends.map((b) => b.url), 'shutdown:\n  drainTimeout: 10s')).start(1);
    client = grpcClient(sluice.proxy);
    const stream = new ChatCall(client);
    expect(await stream.say('before')).to.equal('g1:before');
    // A second client connection, to see the GOAWAY every connection gets (grpc-js does not show
    // it); one request first, so that sluice has taken the connection on before it is told to stop.
    const watcher = await H2Client.open(sluice.proxyUrl);
    try {
      expect((await watcher.request('/no-such-path')).status).to.be.a('number');
      const goaway = new Promise<void>((resolve) => watcher.session.once('goaway', () => resolve()));
      sluice.signal('SIGTERM');
      await goaway;
      expect(await stream.say('after')).to.equal('g1:after');
      expect(await stream.say('and after')).to.equal('g1:and after');
      stream.stream.end();
      expect((await stream.status).code).to.equal(grpcStatus.OK);
      expect(await sluice.waitForExit()).to.equal(0);
    } finally {
      await watcher.close();
    }
  });

  it('on SIGTERM also sends GOAWAY to a connection whose preface arrives after the others got theirs', async () => {
    backends = await startGrpcBackends(1);
    sluice = await new SluiceProcess(grpcConfig(backends.map((b) => b.url), 'shutdown:\n  drainTimeout: 10s')).start(1);
    client = grpcClient(sluice.proxy);
    // An open stream keeps sluice draining while the late connection is watched.
    const stream = new ChatCall(client);
    expect(await stream.say('before')).to.equal('g1:before');
    const port = Number(sluice.proxy.slice(sluice.proxy.lastIndexOf(':') + 1));
    const socket = connect(port, '127.0.0.1');
    await once(socket, 'connect');
    sluice.signal('SIGTERM');
    await sluice.waitForLog((l) => l.msg === 'shutting down', 'sluice to start shutting down');
    const late = new H2Client(sluice.proxyUrl, { createConnection: () => socket });
    try {
      await once(late.session, 'goaway');
      expect(await stream.say('after')).to.equal('g1:after');
      stream.stream.end();
      expect((await stream.status).code).to.equal(grpcStatus.OK);
      expect(await sluice.waitForExit()).to.equal(0);
    } finally {
      await late.close();
    }
  });
});
