// Just enough of a Kubernetes API server for the footprint run's discovery case (memory, not
// behaviour: the cluster tests use a real kube-apiserver). Serves one Service's EndpointSlices,
// one slice per endpoint, and holds watches open. `node fake-apiserver.ts PORT,PORT,...`;
// prints its own port once listening.

import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

const ports = (process.argv[2] ?? '').split(',').filter(Boolean).map(Number);
const slices = ports.map((port, i) => ({
  apiVersion: 'discovery.k8s.io/v1',
  kind: 'EndpointSlice',
  metadata: { name: `bench-${i}`, namespace: 'default', resourceVersion: '1', labels: { 'kubernetes.io/service-name': 'bench' } },
  addressType: 'IPv4',
  ports: [{ name: 'http', port, protocol: 'TCP' }],
  endpoints: [{ addresses: ['127.0.0.1'], conditions: { ready: true, serving: true, terminating: false }, targetRef: { kind: 'Pod', name: `bench-${i}`, namespace: 'default' } }],
}));

const server = createServer((req, res) => {
  const url = new URL(req.url ?? '/', 'http://localhost');
  if (url.pathname !== '/apis/discovery.k8s.io/v1/namespaces/default/endpointslices') {
    res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ kind: 'Status', status: 'Failure', reason: 'NotFound', code: 404 }));
    return;
  }
  if (url.searchParams.get('watch') === '1') {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.write(JSON.stringify({ type: 'BOOKMARK', object: { kind: 'EndpointSlice', apiVersion: 'discovery.k8s.io/v1', metadata: { resourceVersion: '1' } } }) + '\n');
    const bookmarks = setInterval(() => res.write(JSON.stringify({ type: 'BOOKMARK', object: { kind: 'EndpointSlice', apiVersion: 'discovery.k8s.io/v1', metadata: { resourceVersion: '1' } } }) + '\n'), 30_000);
    res.on('close', () => clearInterval(bookmarks));
    return;
  }
  res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ kind: 'EndpointSliceList', apiVersion: 'discovery.k8s.io/v1', metadata: { resourceVersion: '1' }, items: slices }));
});
server.listen(0, '127.0.0.1', () => process.stdout.write(`${(server.address() as AddressInfo).port}\n`));
