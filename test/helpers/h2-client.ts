// A small HTTP/2 client for e2e tests: one session (connection), many requests over it.

import { connect, type ClientHttp2Session, type ClientHttp2Stream, type IncomingHttpHeaders, type OutgoingHttpHeaders, type SecureClientSessionOptions } from 'node:http2';

export interface H2Answer {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
  text: string;
  /** Trailing headers, if the answer had any (gRPC's status lives there). */
  trailers: IncomingHttpHeaders;
}

export class H2Client {
  readonly session: ClientHttp2Session;

  constructor(origin: string, options: SecureClientSessionOptions = {}) {
    this.session = connect(origin, options);
    // Failures reach the requests that meet them; the session's own error must not crash the test run.
    this.session.on('error', () => {});
  }

  static async open(origin: string, options: SecureClientSessionOptions = {}): Promise<H2Client> {
    const client = new H2Client(origin, options);
    await new Promise<void>((resolve, reject) => {
      client.session.once('connect', () => resolve());
      client.session.once('error', reject);
    });
    return client;
  }

  request(path: string, headers: OutgoingHttpHeaders = {}, body?: Buffer | string, method = body === undefined ? 'GET' : 'POST'): Promise<H2Answer> {
    const stream = this.session.request({ ':path': path, ':method': method, ...headers });
    const answer = H2Client.answer(stream);
    stream.end(body);
    return answer;
  }

  /** The final answer of a stream the caller opened itself (to watch 1xx, or write its body its own way). */
  static answer(stream: ClientHttp2Stream): Promise<H2Answer> {
    return new Promise((resolve, reject) => {
      const chunks: Buffer[] = [];
      let head: IncomingHttpHeaders = {};
      let trailers: IncomingHttpHeaders = {};
      stream.on('response', (h) => { head = h; });
      stream.on('trailers', (t) => { trailers = t; });
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('end', () => {
        const all = Buffer.concat(chunks);
        resolve({ status: Number(head[':status']), headers: head, body: all, text: all.toString('utf8'), trailers });
      });
      stream.on('error', reject);
      stream.on('close', () => {
        if (stream.rstCode !== 0 && !stream.readableEnded) reject(new Error(`stream reset with code ${stream.rstCode}`));
      });
    });
  }

  close(): Promise<void> {
    if (this.session.closed || this.session.destroyed) return Promise.resolve();
    return new Promise((resolve) => {
      this.session.close(() => resolve());
      // A server that never acknowledges must not hold up cleanup.
      setTimeout(() => { this.session.destroy(); resolve(); }, 2_000).unref();
    });
  }
}
