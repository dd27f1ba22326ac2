// What any Node.js HTTP/2 server costs on this machine, as two reference points for sluice's
// HTTP/2 figures (bench/h2-floor.ts):
//   hello  PORT                      answers every request itself: a small body for GETs, a whole
//                                    gRPC answer (message + grpc-status 0 trailers) for gRPC calls.
//                                    The ceiling of a Node HTTP/2 listener, with no upstream at all.
//   proxy  PORT h1|h2c BACKEND_URL...  the least a Node HTTP/2 proxy does: Node's core stream API
//                                    in, undici's dispatch out (as sluice), round robin; no header
//                                    policy, timeouts, retries, health checks, metrics or limits.
// Usage: node bench/peers/node-h2.ts hello 8443 | node bench/peers/node-h2.ts proxy 8443 h2c http://127.0.0.1:50051 ...

import { createServer, type IncomingHttpHeaders, type OutgoingHttpHeaders, type ServerHttp2Stream } from 'node:http2';
import { Pool, type Dispatcher } from 'undici';

const [mode, portArg, protocol, ...backends] = process.argv.slice(2);
if ((mode !== 'hello' && mode !== 'proxy') || !portArg || (mode === 'proxy' && ((protocol !== 'h1' && protocol !== 'h2c') || backends.length === 0))) {
  throw new Error('usage: node-h2.ts hello PORT | node-h2.ts proxy PORT h1|h2c BACKEND_URL...');
}

const HELLO = Buffer.from('hello from a node http2 server\n');
/** SimpleResponse{payload{body: 38 bytes}} in a gRPC frame: what bench/lib/load.ts counts as a whole answer. */
const GRPC_ANSWER = Buffer.concat([Buffer.from([0, 0, 0, 0, 42, 0x0a, 40, 0x12, 38]), Buffer.alloc(38)]);
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'proxy-connection', 'upgrade', 'te', 'trailer']);

function hello(stream: ServerHttp2Stream, headers: IncomingHttpHeaders): void {
  stream.on('error', () => {});
  if (headers['content-type'] !== 'application/grpc') {
    stream.respond({ ':status': 200, 'content-type': 'text/plain' });
    stream.end(HELLO);
    return;
  }
  stream.resume();
  stream.once('end', () => {
    stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
    stream.once('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
    stream.end(GRPC_ANSWER);
  });
}

const pools = backends.map((url) => new Pool(url, protocol === 'h2c' ? { allowH2: true, useH2c: true, bodyTimeout: 0 } as Pool.Options : { bodyTimeout: 0 }));
let next = 0;

/** undici's dispatch handler, writing the answer straight onto the client's stream. */
class Relay implements Dispatcher.DispatchHandler {
  private readonly stream: ServerHttp2Stream;
  private trailers: OutgoingHttpHeaders = {};

  constructor(stream: ServerHttp2Stream) {
    this.stream = stream;
  }

  onRequestStart(): void {}

  onResponseStart(_c: Dispatcher.DispatchController, statusCode: number, headers: IncomingHttpHeaders): void {
    if (this.stream.destroyed) return;
    const out: OutgoingHttpHeaders = { ':status': statusCode };
    for (const name in headers) if (!HOP_BY_HOP.has(name)) out[name] = headers[name];
    this.stream.respond(out, { waitForTrailers: true });
    this.stream.once('wantTrailers', () => this.stream.sendTrailers(this.trailers));
  }

  onResponseData(_c: Dispatcher.DispatchController, chunk: Buffer): void {
    if (!this.stream.destroyed) this.stream.write(chunk);
  }

  onResponseEnd(_c: Dispatcher.DispatchController, trailers: IncomingHttpHeaders): void {
    this.trailers = trailers as OutgoingHttpHeaders;
    if (!this.stream.destroyed) this.stream.end();
  }

  onResponseError(_c: Dispatcher.DispatchController): void {
    if (!this.stream.destroyed) this.stream.close();
  }
}

function proxy(stream: ServerHttp2Stream, headers: IncomingHttpHeaders): void {
  stream.on('error', () => {});
  const forward: string[] = [];
  for (const name in headers) if (name.charCodeAt(0) !== 58 && !HOP_BY_HOP.has(name)) forward.push(name, String(headers[name]));
  const send = (body: Buffer | null): void => {
    const pool = pools[next];
    next = (next + 1) % pools.length;
    pool.dispatch({ origin: 'http://backend', method: headers[':method'] as string, path: headers[':path'] as string, headers: forward, body }, new Relay(stream));
  };
  if (stream.endAfterHeaders) {
    send(null);
    return;
  }
  // A small body (a gRPC call) is gathered and sent whole, as sluice does with one that came with its head.
  const chunks: Buffer[] = [];
  stream.on('data', (chunk: Buffer) => chunks.push(chunk));
  stream.once('end', () => send(Buffer.concat(chunks)));
}

const server = createServer();
server.on('stream', mode === 'hello' ? hello : proxy);
server.listen(Number(portArg), '127.0.0.1', () => process.stdout.write(`listening 127.0.0.1:${portArg}\n`));
process.on('SIGTERM', () => process.exit(0));
