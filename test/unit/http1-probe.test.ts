// The HTTP/1.1 health check reads only a status line from a raw connection: what it makes of
// backends that answer badly, late, never or not at all, in the words /status shows.

import { expect } from 'chai';
import { createServer, type Server, type Socket } from 'node:net';
import { classifyFailure, describeError } from '../../src/pool/connection-errors.ts';
import { probeHttp1 } from '../../src/health/http1-probe.ts';
import { listenOnLoopback, trackSockets } from '../helpers/loopback.ts';

describe('HTTP/1.1 health check', () => {
  let server: Server | undefined;
  const sockets = new Set<Socket>();
  afterEach(async () => {
    for (const socket of sockets) socket.destroy();
    await new Promise((resolve) => (server ? server.close(resolve) : resolve(undefined)));
    server = undefined;
  });

  /** A backend that answers every request head with `answer` (raw bytes), or never when undefined. */
  async function backend(answer: ((head: string, socket: Socket) => void) | undefined): Promise<string> {
    server = createServer((socket) => {
      let head = '';
      socket.setEncoding('latin1');
      socket.on('data', (chunk: string) => {
        head += chunk;
        if (head.includes('\r\n\r\n')) answer?.(head, socket);
      });
    });
    trackSockets(server, sockets);
    return `http://127.0.0.1:${await listenOnLoopback(server)}`;
  }

  async function failure(url: string, timeoutMs = 2000): Promise<unknown> {
    try {
      await probeHttp1({ url, path: '/health', timeoutMs });
    } catch (err) {
      return err;
    }
    throw new Error('the probe passed');
  }

  it('sends a GET for the path with Host and closes; the status decides', async () => {
    let seen = '';
    const url = await backend((head, socket) => { seen = head; socket.end('HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\n\r\n'); });
    expect(await probeHttp1({ url, path: '/health?x=1', timeoutMs: 2000 })).to.equal(503);
    expect(seen).to.match(/^GET \/health\?x=1 HTTP\/1\.1\r\n/);
    expect(seen).to.include(`Host: ${new URL(url).host}\r\n`);
    expect(seen).to.include('Connection: close\r\n');
  });

  it('skips interim 1xx answers to the final status, also when split across packets', async () => {
    const url = await backend((_head, socket) => {
      socket.write('HTTP/1.1 103 Early Hints\r\nlink: </a.css>\r\n');
      socket.write('\r\nHTTP/1.1 2');
      socket.end('04 No Content\r\n\r\n');
    });
    expect(await probeHttp1({ url, path: '/health', timeoutMs: 2000 })).to.equal(204);
  });

  it('calls a bad status line a malformed response', async () => {
    const url = await backend((_head, socket) => socket.end('SSH-2.0-OpenSSH_9.6\r\n'));
    const err = await failure(url);
    expect(classifyFailure(err)).to.equal('malformed');
    expect(describeError(err)).to.match(/^malformed response: not an HTTP\/1\.1 status line/);
  });

  it('calls a close before any status line a reset, not a pass', async () => {
    const url = await backend((_head, socket) => socket.end());
    const err = await failure(url);
    expect(classifyFailure(err)).to.equal('reset');
    expect(describeError(err)).to.equal('connection closed before the response');
  });

  it('gives up on a backend that accepts and never answers, after the timeout', async () => {
    const url = await backend(undefined);
    const err = await failure(url, 200);
    expect(classifyFailure(err)).to.equal('timeout');
    expect(describeError(err, 200)).to.equal('timeout after 200ms');
  });

  it('calls a closed port unreachable', async () => {
    const url = await backend(undefined);
    await new Promise((resolve) => server!.close(resolve));
    server = undefined;
    const err = await failure(url);
    expect(classifyFailure(err)).to.equal('unreachable');
    expect(describeError(err)).to.equal('connection refused');
  });

  it('stops reading a head that never ends its status line', async () => {
    const url = await backend((_head, socket) => socket.write('HTTP/1.1 100 Continue\r\nx: ' + 'a'.repeat(20_000)));
    const err = await failure(url);
    expect(classifyFailure(err)).to.equal('malformed');
  });
});
