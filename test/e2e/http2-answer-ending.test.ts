import { expect } from 'chai';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { H2Client } from '../helpers/h2-client.ts';
import { SluiceProcess, testConfig } from '../helpers/sluice-process.ts';

/**
 * An HTTP/2 client's stream ends with the backend's answer: with its last DATA frame when an
 * HTTP/1.1 answer has a length (no trailers can follow), with the trailers of a chunked one.
 */
describe('HTTP/2 clients and how HTTP/1.1 answers end (e2e)', () => {
  let backend: Server | undefined;
  let sluice: SluiceProcess | undefined;
  let client: H2Client | undefined;

  before(async () => {
    backend = createServer((req, res) => {
      if (req.url === '/trailers') {
        res.writeHead(200, { 'content-type': 'text/plain', trailer: 'x-checksum' });
        res.write('first ');
        res.addTrailers({ 'x-checksum': 'c0ffee' });
        res.end('last');
        return;
      }
      const body = req.url === '/health' ? 'ok\n' : 'with a length\n';
      res.writeHead(200, { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(body), 'set-cookie': ['a=1', 'b=2'] });
      res.end(body);
    });
    await new Promise<void>((resolve) => backend!.listen(0, '127.0.0.1', resolve));
    const { port } = backend.address() as AddressInfo;
    sluice = await new SluiceProcess(testConfig([`http://127.0.0.1:${port}`])).start(1);
    client = await H2Client.open(sluice.proxyUrl);
  });

  after(async () => {
    await client?.close();
    await sluice?.stop();
    await new Promise<void>((resolve) => (backend ? backend.close(() => resolve()) : resolve()));
  });

  it('passes the trailers of a chunked HTTP/1.1 answer on to an HTTP/2 client', async () => {
    const answer = await client!.request('/trailers');
    expect(answer.status).to.equal(200);
    expect(answer.text).to.equal('first last');
    expect(answer.trailers['x-checksum']).to.equal('c0ffee');
  });

  it('keeps every header of an HTTP/1.1 answer with a length, each cookie on its own, with no trailers', async () => {
    const answer = await client!.request('/plain');
    expect(answer.status).to.equal(200);
    expect(answer.text).to.equal('with a length\n');
    expect(answer.trailers).to.deep.equal({});
    expect(answer.headers['content-length']).to.equal('14');
    expect(answer.headers['set-cookie']).to.deep.equal(['a=1', 'b=2']);
    expect(answer.headers['x-request-id']).to.be.a('string');
  });
});
