// Runs inside a network namespace (`ip netns exec NS node netns-backend.ts IP...`): a real HTTP
// server on every given address, on ports 8080 and 9090. Answers "<ip>:<port>" ("[v6]:port"; also in the
// x-backend header); /health answers 200. Prints "ready" once every listener is up.

import { createServer, type Server } from 'node:http';

const PORTS = [8080, 9090];
const servers: Server[] = [];

async function listen(host: string, port: number): Promise<void> {
  const name = `${host.includes(':') ? `[${host}]` : host}:${port}`;
  const server = createServer((req, res) => {
    if (req.url === '/health') {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end('ok\n');
      return;
    }
    req.resume();
    res.writeHead(200, { 'content-type': 'text/plain', 'x-backend': name });
    res.end(name);
  });
  server.keepAliveTimeout = 5000;
  servers.push(server);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
}

await Promise.all(process.argv.slice(2).flatMap((host) => PORTS.map((port) => listen(host, port))));
process.stdout.write('ready\n');
process.on('SIGTERM', () => {
  for (const s of servers) s.close();
  for (const s of servers) s.closeAllConnections();
  process.exit(0);
});
