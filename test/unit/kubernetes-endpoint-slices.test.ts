import { expect } from 'chai';
import { endpointSlicesToBackends, endpointState } from '../../src/sources/kubernetes/endpoint-slices.ts';
import type { EndpointPort, EndpointSlice, SliceEndpoint } from '../../src/sources/kubernetes/kube-types.ts';

const ref = { namespace: 'shop', service: 'checkout' };
const HTTP: EndpointPort[] = [{ name: 'http', port: 8080, protocol: 'TCP' }];

function slice(name: string, endpoints: SliceEndpoint[], ports: EndpointPort[] = HTTP, addressType = 'IPv4'): EndpointSlice {
  return { metadata: { name, namespace: 'shop', labels: { 'kubernetes.io/service-name': 'checkout' } }, addressType, endpoints, ports };
}

function ep(address: string, conditions: SliceEndpoint['conditions'] = { ready: true, serving: true, terminating: false }, extra: Partial<SliceEndpoint> = {}): SliceEndpoint {
  return { addresses: [address], conditions, ...extra };
}

describe('EndpointSlices → desired backends', () => {
  it('turns ready endpoints into backends with pod, node and zone', () => {
    const { backends, problem } = endpointSlicesToBackends([slice('checkout-a', [
      ep('10.0.0.1', { ready: true }, { targetRef: { kind: 'Pod', name: 'checkout-7f-abc' }, nodeName: 'node-1', zone: 'eu-1a' }),
    ])], 'http', ref);
    expect(problem).to.equal(undefined);
    expect(backends).to.deep.equal([
      { url: 'http://10.0.0.1:8080', weight: 1, terminating: false, meta: { pod: 'checkout-7f-abc', node: 'node-1', zone: 'eu-1a' } },
    ]);
  });

  it('speaks to a port as its appProtocol says: h2c for kubernetes.io/h2c and grpc, HTTP/1.1 for http and kubernetes.io/ws, HTTP/1.1 over TLS for https and kubernetes.io/wss', () => {
    const speech = (appProtocol: string | undefined): { url: string; protocol: string | undefined } => {
      const [backend] = endpointSlicesToBackends([slice('checkout-a', [ep('10.0.0.1')], [{ name: 'http', port: 8080, protocol: 'TCP', appProtocol }])], 'http', ref).backends;
      return { url: backend.url, protocol: backend.protocol };
    };
    expect(speech('kubernetes.io/h2c')).to.deep.equal({ url: 'http://10.0.0.1:8080', protocol: 'h2c' });
    expect(speech('grpc')).to.deep.equal({ url: 'http://10.0.0.1:8080', protocol: 'h2c' });
    expect(speech('http')).to.deep.equal({ url: 'http://10.0.0.1:8080', protocol: 'http1' });
    expect(speech('https')).to.deep.equal({ url: 'https://10.0.0.1:8080', protocol: 'http1' });
    // WebSocket (KEP-3726): an HTTP/1.1 Upgrade, over TLS for wss, whatever upstream.protocol says.
    expect(speech('kubernetes.io/ws')).to.deep.equal({ url: 'http://10.0.0.1:8080', protocol: 'http1' });
    expect(speech('kubernetes.io/wss')).to.deep.equal({ url: 'https://10.0.0.1:8080', protocol: 'http1' });
    // Anything else is cleartext, and its protocol is left to upstream.protocol.
    expect(speech(undefined)).to.deep.equal({ url: 'http://10.0.0.1:8080', protocol: undefined });
    // Not agreed on: HTTP/2 over TLS to some implementations, h2c to others (KEP-3726).
    expect(speech('HTTP2')).to.deep.equal({ url: 'http://10.0.0.1:8080', protocol: undefined });
  });

  it('gives https endpoints https:// URLs, IPv6 ones in brackets, and keeps an address\'s http and https ports apart', () => {
    const ports: EndpointPort[] = [{ name: 'web', port: 8080, protocol: 'TCP' }, { name: 'tls', port: 8443, protocol: 'TCP', appProtocol: 'https' }];
    const v6 = endpointSlicesToBackends([slice('checkout-a', [ep('fd00::1')], ports, 'IPv6')], 'tls', ref);
    expect(v6.backends.map((b) => b.url)).to.deep.equal(['https://[fd00::1]:8443']);
    const byName = (name: string): string[] => endpointSlicesToBackends([slice('checkout-a', [ep('10.0.0.1')], ports)], name, ref).backends.map((b) => b.url);
    expect(byName('web')).to.deep.equal(['http://10.0.0.1:8080']);
    expect(byName('tls')).to.deep.equal(['https://10.0.0.1:8443']);
  });

  it('carries EndpointSlice hints for zone-aware routing', () => {
    const { backends } = endpointSlicesToBackends([slice('checkout-a', [ep('10.0.0.1', { ready: true }, { zone: 'eu-1a', hints: { forZones: [{ name: 'eu-1b' }] } })])], 'http', ref);
    expect(backends[0].meta).to.deep.equal({ zone: 'eu-1a', forZones: ['eu-1b'] });
  });

  it('merges every slice of the service', () => {
    const { backends } = endpointSlicesToBackends([
      slice('checkout-b', [ep('10.0.0.3')]),
      slice('checkout-a', [ep('10.0.0.1'), ep('10.0.0.2')]),
    ], 'http', ref);
    expect(backends.map((b) => b.url)).to.deep.equal(['http://10.0.0.1:8080', 'http://10.0.0.2:8080', 'http://10.0.0.3:8080']);
  });

  it('lists an endpoint found in two slices once, preferring its ready copy', () => {
    const { backends } = endpointSlicesToBackends([
      slice('checkout-a', [ep('10.0.0.1', { ready: false, serving: true, terminating: true })]),
      slice('checkout-b', [ep('10.0.0.1', { ready: true }, { targetRef: { name: 'new' } })]),
    ], 'http', ref);
    expect(backends).to.have.length(1);
    expect(backends[0]).to.include({ url: 'http://10.0.0.1:8080', terminating: false });
    expect(backends[0].meta).to.deep.equal({ pod: 'new' });
  });

  it('keeps the same address on two different ports apart', () => {
    const { backends } = endpointSlicesToBackends([
      slice('a', [ep('10.0.0.1')], [{ name: 'http', port: 8080 }]),
      slice('b', [ep('10.0.0.1')], [{ name: 'http', port: 9090 }]),
    ], 'http', ref);
    expect(backends.map((b) => b.url)).to.deep.equal(['http://10.0.0.1:8080', 'http://10.0.0.1:9090']);
  });

  it('marks terminating endpoints that still serve as terminating, and drops those that do not', () => {
    const { backends } = endpointSlicesToBackends([slice('a', [
      ep('10.0.0.1', { ready: false, serving: true, terminating: true }),
      ep('10.0.0.2', { ready: false, serving: false, terminating: true }),
    ])], 'http', ref);
    expect(backends).to.deep.equal([{ url: 'http://10.0.0.1:8080', weight: 1, terminating: true, meta: {} }]);
  });

  it('drops endpoints that are not ready and not terminating', () => {
    const { backends } = endpointSlicesToBackends([slice('a', [ep('10.0.0.1', { ready: false, serving: false, terminating: false })])], 'http', ref);
    expect(backends).to.deep.equal([]);
  });

  it('reads absent conditions as the API defines them', () => {
    expect(endpointState({ addresses: ['10.0.0.1'] })).to.equal('ready');
    expect(endpointState({ addresses: ['10.0.0.1'], conditions: {} })).to.equal('ready');
    expect(endpointState({ conditions: { ready: false } })).to.equal('unready');
    // serving absent on a terminating endpoint: fall back to ready.
    expect(endpointState({ conditions: { ready: true, terminating: true } })).to.equal('terminating');
    expect(endpointState({ conditions: { ready: false, terminating: true } })).to.equal('unready');
    expect(endpointState({ conditions: { ready: null, serving: null, terminating: null } })).to.equal('ready');
  });

  it('puts IPv6 addresses in brackets', () => {
    const { backends } = endpointSlicesToBackends([slice('a', [ep('fd00::1')], HTTP, 'IPv6')], 'http', ref);
    expect(backends.map((b) => b.url)).to.deep.equal(['http://[fd00::1]:8080']);
  });

  it('uses only the IPv4 slices of a dual-stack service, so no pod is listed twice', () => {
    const { backends } = endpointSlicesToBackends([
      slice('v6', [ep('fd00::1')], HTTP, 'IPv6'),
      slice('v4', [ep('10.0.0.1')], HTTP, 'IPv4'),
    ], 'http', ref);
    expect(backends.map((b) => b.url)).to.deep.equal(['http://10.0.0.1:8080']);
  });

  it('counts the other family\'s slices as skipped and says which family is in use', () => {
    const mapped = endpointSlicesToBackends([
      slice('v6', [ep('fd00::1')], HTTP, 'IPv6'),
      slice('v4', [ep('10.0.0.1')], HTTP, 'IPv4'),
    ], 'http', ref);
    expect(mapped.family).to.equal('IPv4');
    expect(mapped.skipped).to.deep.equal([{ slice: 'v6', reason: 'otherFamily', addressType: 'IPv6' }]);
  });

  it('uses IPv6 under auto when only the IPv6 slices have endpoints', () => {
    const mapped = endpointSlicesToBackends([
      slice('v4', [], HTTP, 'IPv4'),
      slice('v6', [ep('fd00::1')], HTTP, 'IPv6'),
    ], 'http', ref);
    expect(mapped.family).to.equal('IPv6');
    expect(mapped.backends.map((b) => b.url)).to.deep.equal(['http://[fd00::1]:8080']);
  });

  it('uses only IPv6 with ipFamily IPv6, even when IPv4 has endpoints', () => {
    const mapped = endpointSlicesToBackends([
      slice('v4', [ep('10.0.0.1')], HTTP, 'IPv4'),
      slice('v6', [ep('fd00::1')], HTTP, 'IPv6'),
    ], 'http', ref, 'IPv6');
    expect(mapped.family).to.equal('IPv6');
    expect(mapped.backends.map((b) => b.url)).to.deep.equal(['http://[fd00::1]:8080']);
    expect(mapped.skipped).to.deep.equal([{ slice: 'v4', reason: 'otherFamily', addressType: 'IPv4' }]);
  });

  it('gives no backends with ipFamily IPv4 when the Service has only IPv6 slices', () => {
    const mapped = endpointSlicesToBackends([slice('v6', [ep('fd00::1')], HTTP, 'IPv6')], 'http', ref, 'IPv4');
    expect(mapped.backends).to.deep.equal([]);
    expect(mapped.skipped.map((s) => s.reason)).to.deep.equal(['otherFamily']);
  });

  it('never uses FQDN slices, also when they are the only ones, and reports them skipped', () => {
    const mapped = endpointSlicesToBackends([slice('names', [ep('web.example.com')], HTTP, 'FQDN')], 'http', ref);
    expect(mapped.backends).to.deep.equal([]);
    expect(mapped.problem).to.equal(undefined);
    expect(mapped.skipped).to.deep.equal([{ slice: 'names', reason: 'FQDN', addressType: 'FQDN' }]);
  });

  it('reports slices without the configured port as skipped when others have it', () => {
    const mapped = endpointSlicesToBackends([
      slice('a', [ep('10.0.0.1')], HTTP),
      slice('b', [ep('10.0.0.2')], [{ name: 'grpc', port: 9000 }]),
    ], 'http', ref);
    expect(mapped.backends.map((b) => b.url)).to.deep.equal(['http://10.0.0.1:8080']);
    expect(mapped.skipped).to.deep.equal([{ slice: 'b', reason: 'unmatchedPorts', addressType: 'IPv4' }]);
  });

  it('uses only the first address of an endpoint, as kube-proxy does', () => {
    const { backends } = endpointSlicesToBackends([slice('a', [{ addresses: ['10.0.0.1', '10.0.0.9'], conditions: { ready: true } }])], 'http', ref);
    expect(backends.map((b) => b.url)).to.deep.equal(['http://10.0.0.1:8080']);
  });

  it('survives slices with null or missing fields', () => {
    const odd: EndpointSlice[] = [
      { metadata: { name: 'a' }, addressType: 'IPv4', endpoints: null, ports: null },
      { metadata: { name: 'b' }, addressType: 'IPv4', endpoints: [{ addresses: null }, { addresses: [] }], ports: HTTP },
      { addressType: 'IPv4' },
    ];
    expect(endpointSlicesToBackends(odd, 'http', ref)).to.deep.equal({ backends: [], problem: undefined, skipped: [], family: 'IPv4' });
  });

  describe('port selection', () => {
    const twoPorts: EndpointPort[] = [{ name: 'http', port: 8080 }, { name: 'metrics', port: 9090 }];

    it('picks the port by its name', () => {
      const { backends } = endpointSlicesToBackends([slice('a', [ep('10.0.0.1')], twoPorts)], 'metrics', ref);
      expect(backends.map((b) => b.url)).to.deep.equal(['http://10.0.0.1:9090']);
    });

    it('picks the port by its target port number', () => {
      const { backends } = endpointSlicesToBackends([slice('a', [ep('10.0.0.1')], twoPorts)], 9090, ref);
      expect(backends.map((b) => b.url)).to.deep.equal(['http://10.0.0.1:9090']);
    });

    it('reads a quoted number as a number, since port names cannot be all digits', () => {
      const { backends } = endpointSlicesToBackends([slice('a', [ep('10.0.0.1')], twoPorts)], '8080', ref);
      expect(backends.map((b) => b.url)).to.deep.equal(['http://10.0.0.1:8080']);
    });

    it('resolves a named target port per slice, since pods may differ', () => {
      const { backends } = endpointSlicesToBackends([
        slice('checkout-1', [ep('10.0.0.1')], [{ name: 'http', port: 8080 }]),
        slice('checkout-2', [ep('10.0.0.2')], [{ name: 'http', port: 8081 }]),
      ], 'http', ref);
      expect(backends.map((b) => b.url)).to.deep.equal(['http://10.0.0.1:8080', 'http://10.0.0.2:8081']);
    });

    it('takes the only port when none is configured, also when it has no name', () => {
      const { backends } = endpointSlicesToBackends([slice('a', [ep('10.0.0.1')], [{ name: '', port: 8080, protocol: 'TCP' }])], undefined, ref);
      expect(backends.map((b) => b.url)).to.deep.equal(['http://10.0.0.1:8080']);
    });

    it('ignores UDP and SCTP ports', () => {
      const ports: EndpointPort[] = [{ name: 'dns', port: 53, protocol: 'UDP' }, { name: 'http', port: 8080 }];
      const { backends, problem } = endpointSlicesToBackends([slice('a', [ep('10.0.0.1')], ports)], undefined, ref);
      expect(problem).to.equal(undefined);
      expect(backends.map((b) => b.url)).to.deep.equal(['http://10.0.0.1:8080']);
    });

    it('reports several ports when none is configured', () => {
      const { backends, problem } = endpointSlicesToBackends([slice('a', [ep('10.0.0.1')], twoPorts)], undefined, ref);
      expect(backends).to.deep.equal([]);
      expect(problem).to.equal('service shop/checkout has several ports (http, metrics); set discovery.kubernetes.port to one of them');
    });

    it('reports a port name the service does not have, listing the ones it has', () => {
      const { backends, problem } = endpointSlicesToBackends([slice('a', [ep('10.0.0.1')], twoPorts)], 'web', ref);
      expect(backends).to.deep.equal([]);
      expect(problem).to.equal('service shop/checkout has no port named "web"; its endpoints have ports http (8080), metrics (9090)');
    });

    it('explains that a number is the target port when a Service port number does not match', () => {
      const { problem } = endpointSlicesToBackends([slice('a', [ep('10.0.0.1')], twoPorts)], 80, ref);
      expect(problem).to.match(/^service shop\/checkout has no endpoint port 80; a numeric discovery.kubernetes.port is the target \(pod\) port/);
      expect(problem).to.contain('http (8080), metrics (9090)');
    });

    it('reports nothing when the service has no endpoints at all (the port may be right)', () => {
      const { backends, problem } = endpointSlicesToBackends([slice('a', [], null as unknown as EndpointPort[])], 'web', ref);
      expect(backends).to.deep.equal([]);
      expect(problem).to.equal(undefined);
    });

    it('is satisfied when some slices have the port even if others do not', () => {
      const { backends, problem } = endpointSlicesToBackends([
        slice('a', [ep('10.0.0.1')], [{ name: 'http', port: 8080 }]),
        slice('b', [ep('10.0.0.2')], [{ name: 'grpc', port: 9000 }]),
      ], 'http', ref);
      expect(problem).to.equal(undefined);
      expect(backends.map((b) => b.url)).to.deep.equal(['http://10.0.0.1:8080']);
    });
  });
});
