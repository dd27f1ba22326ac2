// The few fields of Kubernetes API objects that discovery reads, as the API server sends them
// (JSON, camelCase). Everything is optional: the server omits empty fields, and a mapping must
// never crash on an object it did not expect.

export interface ObjectMeta {
  name?: string;
  namespace?: string;
  resourceVersion?: string;
  labels?: Record<string, string>;
}

export interface KubeObject {
  metadata?: ObjectMeta;
}

export interface KubeList<T extends KubeObject> {
  metadata?: { resourceVersion?: string };
  items?: T[] | null;
}

/** metav1.Status: the body of every API error, and of watch ERROR events. */
export interface KubeStatus {
  kind?: string;
  status?: string;
  message?: string;
  reason?: string;
  code?: number;
  details?: { name?: string; group?: string; kind?: string };
}

export interface WatchEvent<T extends KubeObject> {
  type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR' | string;
  object: T | KubeStatus;
}

export interface ObjectReference {
  kind?: string;
  name?: string;
  namespace?: string;
}

/** discovery.k8s.io/v1 EndpointSlice. */
export interface EndpointSlice extends KubeObject {
  addressType?: 'IPv4' | 'IPv6' | 'FQDN' | string;
  endpoints?: SliceEndpoint[] | null;
  ports?: EndpointPort[] | null;
}

export interface SliceEndpoint {
  addresses?: string[] | null;
  conditions?: { ready?: boolean | null; serving?: boolean | null; terminating?: boolean | null } | null;
  hostname?: string | null;
  nodeName?: string | null;
  zone?: string | null;
  hints?: { forZones?: { name?: string | null }[] | null } | null;
  targetRef?: ObjectReference | null;
}

/** A port as EndpointSlices and Endpoints carry it: the Service port's name, the target port's number. */
export interface EndpointPort {
  name?: string | null;
  port?: number | null;
  protocol?: string | null;
  appProtocol?: string | null;
}

/** core/v1 Endpoints. */
export interface Endpoints extends KubeObject {
  subsets?: EndpointSubset[] | null;
}

export interface EndpointSubset {
  addresses?: EndpointAddress[] | null;
  notReadyAddresses?: EndpointAddress[] | null;
  ports?: EndpointPort[] | null;
}

export interface EndpointAddress {
  ip?: string;
  hostname?: string | null;
  nodeName?: string | null;
  targetRef?: ObjectReference | null;
}
