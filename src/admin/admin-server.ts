// The admin listener: /status, /healthz, /readyz. Separate from the proxy port so no backend
// path is ever shadowed.

import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { isReady, renderStatus, type AdminView } from './status.ts';

export function createAdminServer(view: AdminView): Server {
  return createServer((req: IncomingMessage, res: ServerResponse) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      reply(res, 405, 'text/plain; charset=utf-8', 'Method Not Allowed\n', { allow: 'GET, HEAD' });
      return;
    }
    switch (path) {
      case '/status':
        reply(res, 200, 'application/json', JSON.stringify(renderStatus(view), null, 2) + '\n');
        return;
      case '/healthz':
        reply(res, 200, 'text/plain; charset=utf-8', 'ok\n');
        return;
      case '/readyz': {
        const ready = isReady(view);
        const why = view.shuttingDown ? 'shutting down' : !view.discoverySynced() ? 'discovery not synced' : 'no healthy backend';
        // Discovery's own sentence says why there may be no backends (e.g. the Service is missing).
        const problem = ready ? undefined : view.discoveryStatus()?.problem;
        const body = ready ? 'ready\n' : `not ready: ${why}${typeof problem === 'string' ? ` (${problem})` : ''}\n`;
        reply(res, ready ? 200 : 503, 'text/plain; charset=utf-8', body);
        return;
      }
      case '/':
        reply(res, 200, 'text/plain; charset=utf-8', 'sluice admin: /status /healthz /readyz\n');
        return;
      default:
        reply(res, 404, 'text/plain; charset=utf-8', 'Not Found: try /status, /healthz or /readyz\n');
    }
  });
}

function reply(res: ServerResponse, status: number, type: string, body: string, extra: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body), 'cache-control': 'no-store', ...extra });
  res.end(res.req.method === 'HEAD' ? undefined : body);
}
