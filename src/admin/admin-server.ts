// The admin listener: /status, /healthz, /readyz. Separate from the proxy port so no backend
// path is ever shadowed.

import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { notReadyReason, renderStatus, renderStatusText, type AdminView } from './status.ts';

export function createAdminServer(view: AdminView): Server {
  return createServer((req: IncomingMessage, res: ServerResponse) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      reply(res, 405, 'text/plain; charset=utf-8', 'Method Not Allowed\n', { allow: 'GET, HEAD' });
      return;
    }
    switch (path) {
      case '/status':
        if (/[?&]format=text(&|$)/.test(req.url ?? '')) reply(res, 200, 'text/plain; charset=utf-8', renderStatusText(view));
        else reply(res, 200, 'application/json', JSON.stringify(renderStatus(view), null, 2) + '\n');
        return;
      case '/metrics': {
        const text = view.renderMetrics();
        if (text === undefined) reply(res, 404, 'text/plain; charset=utf-8', 'Not Found: metrics are off (admin.metrics: false)\n');
        else reply(res, 200, 'text/plain; version=0.0.4; charset=utf-8', text);
        return;
      }
      case '/healthz':
        reply(res, 200, 'text/plain; charset=utf-8', 'ok\n');
        return;
      case '/readyz': {
        const why = notReadyReason(view);
        reply(res, why === null ? 200 : 503, 'text/plain; charset=utf-8', why === null ? 'ready\n' : `not ready: ${why}\n`);
        return;
      }
      case '/':
        reply(res, 200, 'text/plain; charset=utf-8', 'sluice admin: /status /status?format=text /metrics /healthz /readyz\n');
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
