// A tiny backend for `sluice demo`: "/" answers with its name, "/health" with 200.
// Run as a child process so a newcomer can kill it and watch sluice react.

import { createServer } from 'node:http';

const [name = 'backend', portText = '0'] = process.argv.slice(2);
let served = 0;

const server = createServer((req, res) => {
  if (req.url === '/health') {
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end('ok\n');
    return;
  }
  served++;
  res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' });
  res.end(`Hello from ${name} (port ${portText}, pid ${process.pid}); request #${served} here\n`);
});

server.on('error', (err: NodeJS.ErrnoException) => {
  process.stderr.write(`${name}: cannot listen on 127.0.0.1:${portText}: ${err.code === 'EADDRINUSE' ? 'the address is already in use' : err.message}\n`);
  process.exit(1);
});
server.listen(Number(portText), '127.0.0.1', () => process.send?.('ready'));
// The demo that started us is gone: go too.
process.on('disconnect', () => process.exit(0));
