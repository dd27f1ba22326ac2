// Turns a failed list or watch into one sentence a user can act on, and says whether retrying
// can help. At startup a hopeless error ends the process; after the first sync nothing does.

import { KubeApiError } from './kube-client.ts';

export interface RequestSubject {
  verb: 'list' | 'watch';
  /** Plural resource name, e.g. "endpointslices". */
  resource: string;
  /** API group, "" for the core group. */
  group: string;
  namespace: string;
  server: string;
  credentials: string;
}

export interface Failure {
  message: string;
  /** Retrying will not help (forbidden, bad credentials, unknown resource, TLS trust): fail at startup. */
  hopeless: boolean;
}

const NETWORK: Record<string, string> = {
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'the connection was reset',
  EPIPE: 'the connection was reset',
  ENOTFOUND: 'the host name does not resolve',
  EAI_AGAIN: 'the host name does not resolve (DNS is not answering)',
  ETIMEDOUT: 'the connection timed out',
  EHOSTUNREACH: 'no route to host',
  ENETUNREACH: 'the network is unreachable',
  // The kube client's own (KubeTransportError).
  SLUICE_CONNECT_TIMEOUT: 'the connection timed out',
  SLUICE_RESPONSE_TIMEOUT: 'no response within 30s',
  SLUICE_BODY_TIMEOUT: 'the response stalled',
  SLUICE_PREMATURE_CLOSE: 'the connection was closed',
};

const TLS_CODE = /CERT|SSL|TLS|SIGNATURE|ISSUER/;

export function isGone(err: unknown): boolean {
  return err instanceof KubeApiError && err.status === 410;
}

export function describeFailure(err: unknown, s: RequestSubject): Failure {
  const groupText = s.group === '' ? 'the core API group' : `API group ${s.group}`;
  if (err instanceof KubeApiError) {
    switch (err.status) {
      case 401:
        return { hopeless: true, message: `the Kubernetes API server at ${s.server} rejected the credentials from ${s.credentials} (401 Unauthorized)` };
      case 403: {
        const who = /User "([^"]+)"/.exec(err.apiMessage)?.[1];
        return {
          hopeless: true,
          message: `cannot ${s.verb} ${s.resource} in namespace ${s.namespace}: forbidden${who ? ` for ${who}` : ''} — the Role needs get, list and watch on ${s.resource} (${groupText})`,
        };
      }
      case 404:
        return {
          hopeless: true,
          message: `the Kubernetes API server at ${s.server} does not serve ${s.resource} (${groupText}, 404 Not Found)`
            + (s.resource === 'endpointslices' ? '; EndpointSlices need Kubernetes 1.21 or newer — or set discovery.kubernetes.api: endpoints' : ''),
        };
    }
    const hopeless = err.status >= 400 && err.status < 500 && err.status !== 408 && err.status !== 429;
    return { hopeless, message: `${s.verb} ${s.resource} in namespace ${s.namespace} failed: ${err.message}` };
  }
  const code = errorCode(err);
  if (code !== undefined && NETWORK[code]) {
    return { hopeless: false, message: `cannot reach the Kubernetes API server at ${s.server} (${NETWORK[code]})` };
  }
  if (code !== undefined && TLS_CODE.test(code)) {
    return { hopeless: true, message: `cannot trust the TLS certificate of the Kubernetes API server at ${s.server} (${code}); check the certificate authority in ${s.credentials}` };
  }
  const text = err instanceof Error ? err.message : String(err);
  return { hopeless: false, message: `${s.verb} ${s.resource} in namespace ${s.namespace} failed: ${text.split('\n')[0]}` };
}

/** The most telling code in the error and its causes (wrappers keep the socket or TLS error as a cause). */
function errorCode(err: unknown): string | undefined {
  const codes: string[] = [];
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth++) {
    const code = (e as NodeJS.ErrnoException).code;
    if (typeof code === 'string') codes.push(code);
  }
  return codes.find((c) => NETWORK[c] || TLS_CODE.test(c)) ?? codes[0];
}
