// The admin listener: the status page at /, /status, /status/history, /status/traffic, /metrics,
// /healthz, /readyz. Separate from the proxy port so no backend path is ever shadowed.

import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { STATUS_PAGE_CSP, STATUS_PAGE_HTML } from './status-page.ts';
import { notReadyReason, renderStatus, renderStatusText, type AdminView } from './status.ts';

// By getBuiltinModule, not an ES import: see src/sluice.ts.
const { createServer } = process.getBuiltinModule('node:http');

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
      case '/status/traffic': {
        // The status page's share of /metrics, so off with it: the page then falls back to /status.
        const traffic = view.renderTraffic();
        if (traffic === undefined) reply(res, 404, 'text/plain; charset=utf-8', 'Not Found: metrics are off (admin.metrics: false)\n');
        else reply(res, 200, 'application/json', JSON.stringify(traffic) + '\n');
        return;
      }
      case '/status/history':
        reply(res, 200, 'application/json', JSON.stringify(view.renderHistory()) + '\n');
        return;
      case '/':
        // Browsers get the status page; curl and scripts keep the one-line index.
        if (/\btext\/html\b/.test(req.headers.accept ?? '')) {
          reply(res, 200, 'text/html; charset=utf-8', STATUS_PAGE_HTML, {
            'content-security-policy': STATUS_PAGE_CSP, 'x-content-type-options': 'nosniff', 'referrer-policy': 'no-referrer', vary: 'accept',
          });
        } else {
          reply(res, 200, 'text/plain; charset=utf-8',
            'sluice admin: /status /status?format=text /status/history /status/traffic /metrics /healthz /readyz (open / in a browser for the status page)\n', { vary: 'accept' });
        }
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
