// N tiny backends in one process for the footprint run: `node many-backends.ts N`, prints the
// ports (JSON) once all listen on 127.0.0.1. `/health` answers 200, anything else a short body.

import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

const count = Number(process.argv[2] ?? 1000);
const handler = (req: { url?: string }, res: { end: (body: string) => void }): void => res.end(req.url === '/health' ? 'ok\n' : 'hello\n');
const servers: Server[] = [];
for (let i = 0; i < count; i++) {
  servers.push(await new Promise<Server>((resolve, reject) => {
    const server = createServer(handler);
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve(server));
  }));
}
process.stdout.write(JSON.stringify(servers.map((s) => (s.address() as AddressInfo).port)) + '\n');
