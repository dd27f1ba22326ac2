// Baseline balancer: the minimal round-robin proxy most Node shops start with, http-proxy
// (node-http-proxy) over a keep-alive agent, with X-Forwarded-* on. No health checks, no retries.
// Usage: node bench/peers/http-proxy-balancer.ts PORT BACKEND_URL...

import { Agent, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import httpProxy from 'http-proxy';

const [portArg, ...targets] = process.argv.slice(2);
if (targets.length === 0) throw new Error('usage: http-proxy-balancer.ts PORT BACKEND_URL...');
// Upstream keep-alive, as every other contender has; without it the baseline would measure connects.
const agent = new Agent({ keepAlive: true, maxSockets: Infinity, maxFreeSockets: 1024 });
const proxy = httpProxy.createProxyServer({ agent, xfwd: true });
proxy.on('error', (_err, _req, res) => {
  if ('writeHead' in res && !res.headersSent) res.writeHead(502).end();
  else res.destroy();
});

let next = 0;
const server = createServer((req, res) => {
  const target = targets[next];
  next = (next + 1) % targets.length;
  proxy.web(req, res, { target });
});
server.keepAliveTimeout = 60_000;
server.listen(Number(portArg), '127.0.0.1', () => {
  process.stdout.write(`listening 127.0.0.1:${(server.address() as AddressInfo).port}\n`);
});
