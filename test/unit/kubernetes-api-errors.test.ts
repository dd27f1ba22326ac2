import { expect } from 'chai';
import { describeFailure, isGone, type RequestSubject } from '../../src/sources/kubernetes/api-errors.ts';
import { KubeApiError } from '../../src/sources/kubernetes/kube-client.ts';

const subject: RequestSubject = {
  verb: 'list', resource: 'endpointslices', group: 'discovery.k8s.io', namespace: 'shop',
  server: 'https://10.0.0.1:6443', credentials: 'the in-cluster service account',
};

describe('Kubernetes API failures in one sentence', () => {
  it('names the missing permission and the user on 403', () => {
    const err = new KubeApiError(403, {
      reason: 'Forbidden',
      message: 'endpointslices.discovery.k8s.io is forbidden: User "system:serviceaccount:shop:sluice" cannot list resource "endpointslices" in API group "discovery.k8s.io" in the namespace "shop"',
    });
    expect(describeFailure(err, subject)).to.deep.equal({
      hopeless: true,
      message: 'cannot list endpointslices in namespace shop: forbidden for system:serviceaccount:shop:sluice — the Role needs get, list and watch on endpointslices (API group discovery.k8s.io)',
    });
    expect(describeFailure(err, { ...subject, verb: 'watch', resource: 'endpoints', group: '' }).message)
      .to.equal('cannot watch endpoints in namespace shop: forbidden for system:serviceaccount:shop:sluice — the Role needs get, list and watch on endpoints (the core API group)');
  });

  it('blames the credentials on 401', () => {
    expect(describeFailure(new KubeApiError(401, { reason: 'Unauthorized' }), subject)).to.deep.equal({
      hopeless: true,
      message: 'the Kubernetes API server at https://10.0.0.1:6443 rejected the credentials from the in-cluster service account (401 Unauthorized)',
    });
  });

  it('suggests api: endpoints when EndpointSlices are not served', () => {
    const failure = describeFailure(new KubeApiError(404, { reason: 'NotFound' }), subject);
    expect(failure.hopeless).to.equal(true);
    expect(failure.message).to.contain('set discovery.kubernetes.api: endpoints');
  });

  it('treats a refused connection as worth retrying', () => {
    const err = Object.assign(new Error('connect ECONNREFUSED 10.0.0.1:6443'), { code: 'ECONNREFUSED' });
    expect(describeFailure(err, subject)).to.deep.equal({ hopeless: false, message: 'cannot reach the Kubernetes API server at https://10.0.0.1:6443 (connection refused)' });
  });

  it('finds the socket error inside undici\'s wrapper', () => {
    const err = Object.assign(new TypeError('fetch failed'), { cause: Object.assign(new Error('getaddrinfo ENOTFOUND k8s'), { code: 'ENOTFOUND' }) });
    expect(describeFailure(err, subject).message).to.equal('cannot reach the Kubernetes API server at https://10.0.0.1:6443 (the host name does not resolve)');
  });

  it('gives up at once on an untrusted certificate', () => {
    const err = Object.assign(new Error('unable to verify the first certificate'), { code: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' });
    const failure = describeFailure(err, subject);
    expect(failure.hopeless).to.equal(true);
    expect(failure.message).to.equal('cannot trust the TLS certificate of the Kubernetes API server at https://10.0.0.1:6443 (UNABLE_TO_VERIFY_LEAF_SIGNATURE); check the certificate authority in the in-cluster service account');
  });

  it('retries server errors and throttling, not other client errors', () => {
    expect(describeFailure(new KubeApiError(503, { reason: 'ServiceUnavailable' }), subject).hopeless).to.equal(false);
    expect(describeFailure(new KubeApiError(429, { reason: 'TooManyRequests' }), subject).hopeless).to.equal(false);
    expect(describeFailure(new KubeApiError(422, { reason: 'Invalid', message: 'bad selector' }), subject)).to.deep.equal({
      hopeless: true, message: 'list endpointslices in namespace shop failed: 422 Invalid: bad selector',
    });
  });

  it('recognises 410 Gone', () => {
    expect(isGone(new KubeApiError(410, { reason: 'Expired' }))).to.equal(true);
    expect(isGone(new KubeApiError(500, {}))).to.equal(false);
    expect(isGone(new Error('x'))).to.equal(false);
  });
});
