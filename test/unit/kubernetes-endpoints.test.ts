import { expect } from 'chai';
import { endpointsToBackends } from '../../src/sources/kubernetes/endpoints.ts';
import type { Endpoints } from '../../src/sources/kubernetes/kube-types.ts';

const ref = { namespace: 'shop', service: 'checkout' };

describe('Endpoints → desired backends', () => {
  it('turns ready addresses of every subset into backends with pod and node', () => {
    const endpoints: Endpoints = {
      metadata: { name: 'checkout' },
      subsets: [
        { addresses: [{ ip: '10.0.0.1', nodeName: 'node-1', targetRef: { kind: 'Pod', name: 'pod-1' } }], ports: [{ name: 'http', port: 8080, protocol: 'TCP' }] },
        { addresses: [{ ip: '10.0.0.2' }], ports: [{ name: 'http', port: 8081 }] },
      ],
    };
    expect(endpointsToBackends(endpoints, 'http', ref)).to.deep.equal({
      backends: [
        { url: 'http://10.0.0.1:8080', weight: 1, terminating: false, meta: { pod: 'pod-1', node: 'node-1' } },
        { url: 'http://10.0.0.2:8081', weight: 1, terminating: false, meta: {} },
      ],
      problem: undefined,
      skipped: [],
    });
  });

  it('gives the addresses of an https port (appProtocol) https:// URLs, HTTP/1.1 over TLS', () => {
    const endpoints: Endpoints = { subsets: [{ addresses: [{ ip: '10.0.0.1' }], ports: [{ name: 'https', port: 8443, appProtocol: 'https' }] }] };
    expect(endpointsToBackends(endpoints, 'https', ref).backends.map((b) => ({ url: b.url, protocol: b.protocol }))).to.deep.equal([{ url: 'https://10.0.0.1:8443', protocol: 'http1' }]);
  });

  it('does not use notReadyAddresses', () => {
    const endpoints: Endpoints = { subsets: [{ addresses: [{ ip: '10.0.0.1' }], notReadyAddresses: [{ ip: '10.0.0.2' }], ports: [{ name: 'http', port: 8080 }] }] };
    expect(endpointsToBackends(endpoints, 'http', ref).backends.map((b) => b.url)).to.deep.equal(['http://10.0.0.1:8080']);
  });

  it('still reports a wrong port while every pod is not ready', () => {
    const endpoints: Endpoints = { subsets: [{ notReadyAddresses: [{ ip: '10.0.0.2' }], ports: [{ name: 'http', port: 8080 }] }] };
    expect(endpointsToBackends(endpoints, 'web', ref).problem).to.equal('service shop/checkout has no port named "web"; its endpoints have ports http (8080)');
  });

  it('matches a number against the target port and takes a single unnamed port by default', () => {
    const endpoints: Endpoints = { subsets: [{ addresses: [{ ip: '10.0.0.1' }], ports: [{ port: 8080 }] }] };
    expect(endpointsToBackends(endpoints, 8080, ref).backends.map((b) => b.url)).to.deep.equal(['http://10.0.0.1:8080']);
    expect(endpointsToBackends(endpoints, undefined, ref).backends.map((b) => b.url)).to.deep.equal(['http://10.0.0.1:8080']);
  });

  it('gives an empty set when the Endpoints object is missing or empty', () => {
    expect(endpointsToBackends(undefined, 'http', ref)).to.deep.equal({ backends: [], problem: undefined, skipped: [] });
    expect(endpointsToBackends({ metadata: { name: 'checkout' }, subsets: null }, 'http', ref)).to.deep.equal({ backends: [], problem: undefined, skipped: [] });
  });

  it('lists an address that appears in two subsets once', () => {
    const endpoints: Endpoints = {
      subsets: [
        { addresses: [{ ip: '10.0.0.1' }], ports: [{ name: 'http', port: 8080 }, { name: 'admin', port: 9000 }] },
        { addresses: [{ ip: '10.0.0.1' }], ports: [{ name: 'http', port: 8080 }] },
      ],
    };
    expect(endpointsToBackends(endpoints, 'http', ref).backends.map((b) => b.url)).to.deep.equal(['http://10.0.0.1:8080']);
  });
});
