import { record } from '../values.js';

/**
 * What a reflector needs from the API server, and nothing else. Two implementations: the thin
 * node:http one (http-transport.ts, the agent's default) and client-node's
 * (client-node-transport.ts, for kubeconfig users only client-node can authenticate). Neither
 * file is imported from here, so code that needs only the contract never loads
 * @kubernetes/client-node.
 */

export const PROTOBUF_CONTENT_TYPE = 'application/vnd.kubernetes.protobuf';
/** What lists and watches may ask for (`--kube-api-content-type`, as kubelet's flag of that name). */
export const KUBE_API_CONTENT_TYPES = [PROTOBUF_CONTENT_TYPE, 'application/json'] as const;
export type KubeApiContentType = (typeof KUBE_API_CONTENT_TYPES)[number];

/** The kinds of object the agent lists and watches (also the `resource` label of corridor_watch_restarts_total). */
export type WatchResource = 'pods' | 'namespaces' | 'serviceaccounts';

export interface ListRequest {
  fieldSelector?: string;
  /**
   * '0' lets the API server answer from its watch cache; another value asks for data at least that
   * new; undefined asks for a consistent read. Not sent with `continue` (the token carries it).
   */
  resourceVersion?: string;
  /** NotOlderThan keeps a paginated list with a resourceVersion from meaning an exact (etcd) read. */
  resourceVersionMatch?: 'NotOlderThan';
  /** At most this many objects per answer; a server answering from its watch cache may send them all. */
  limit?: number;
  /** The previous page's token: the next page of the same snapshot. */
  continue?: string;
  signal: AbortSignal;
}

export interface ListResult {
  items: readonly unknown[];
  resourceVersion: string | undefined;
  /** Set when more pages follow. */
  continue?: string;
}

export interface WatchRequest {
  fieldSelector?: string;
  resourceVersion: string;
  /** The server ends the watch after this long, so a silently dead connection cannot last forever. */
  timeoutSeconds: number;
}

export interface WatchHandlers {
  event(type: string, object: unknown): void;
  /** Called once: null when the server closed the stream, else the error (HTTP status in `statusCode`). */
  done(error: unknown): void;
}

export interface WatchHandle {
  /** Ends the watch; `done` is not called afterwards. */
  abort(): void;
}

/** One RFC 6902 operation; the agent sends `test` then `replace` on a node's taints. */
export interface JsonPatchOp {
  op: 'test' | 'replace';
  path: string;
  value: unknown;
}

/**
 * A TokenRequest for a pod's own ServiceAccount (web-identity mode): bound to the pod (so the
 * token dies with it), for one audience, short-lived.
 */
export interface ServiceAccountTokenRequest {
  namespace: string;
  serviceAccount: string;
  pod: { readonly name: string; readonly uid: string };
  audience: string;
  /** The API server's minimum is 600. */
  expirationSeconds: number;
  /**
   * Ask as this node (`system:node:<name>`) through constrained impersonation (KEP-5284,
   * `impersonate:associated-node`): the API server's node authorizer and NodeRestriction then
   * refuse a token for a pod that is not on that node.
   */
  asNode?: string;
}

/** What the API server issued: the JWT and when it expires (ms since the epoch). */
export interface IssuedToken {
  token: string;
  expiration: number;
}

/**
 * What the agent asks of the API server: a list and a watch per resource, its own node, and
 * (web-identity mode) pods' tokens; tests may pass a scripted one.
 */
export interface KubeTransport {
  list(resource: WatchResource, request: ListRequest): Promise<ListResult>;
  /** Resolves once the stream is open (or has already failed through `done`). */
  watch(resource: WatchResource, request: WatchRequest, handlers: WatchHandlers): Promise<WatchHandle>;
  /** The Node object named `name`. */
  getNode(name: string): Promise<unknown>;
  /** Applies a JSON patch to that Node; a failed `test` op rejects with statusCode 422 (the node changed meanwhile). */
  patchNode(name: string, patch: readonly JsonPatchOp[]): Promise<unknown>;
  /** POST .../serviceaccounts/<name>/token; rejects with the API server's status in `statusCode` (403: refused by RBAC or admission). */
  requestToken(request: ServiceAccountTokenRequest): Promise<IssuedToken>;
  /** Releases pooled connections (after every list and watch has ended). */
  close?(): void;
}

/** The part of the transport a reflector uses. */
export type ListWatch = Pick<KubeTransport, 'list' | 'watch'>;

export const RESOURCE_PATHS: Readonly<Record<WatchResource, string>> = Object.freeze({
  pods: '/api/v1/pods',
  namespaces: '/api/v1/namespaces',
  serviceaccounts: '/api/v1/serviceaccounts',
});

/**
 * How long the API server asked the client to wait (its Retry-After header, in ms), when it did:
 * the http transport puts it in `retryAfterMs`; client-node's ApiException carries the headers.
 */
export function retryAfterOf(error: unknown): number | undefined {
  const { retryAfterMs, headers } = record(error);
  if (typeof retryAfterMs === 'number') return retryAfterMs;
  // The API server sends seconds; a date there (which it never sends) is left to the backoff.
  const header = record(headers)['retry-after'];
  return typeof header === 'string' && /^\d+$/.test(header.trim()) ? Number(header.trim()) * 1000 : undefined;
}

/** Retry-After as seconds or as an HTTP date (RFC 9110 10.2.3), in ms from `nowMs`; undefined when it is neither. */
export function parseRetryAfter(header: string, nowMs: number): number | undefined {
  const text = header.trim();
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  const at = Date.parse(text);
  return Number.isNaN(at) ? undefined : Math.max(0, at - nowMs);
}

/**
 * The HTTP status behind a transport error: the http transport and client-node's Watch put it in
 * `statusCode`, client-node's list calls throw ApiException with a numeric `code`. Network errors
 * have neither (their `code` is a string such as ECONNREFUSED).
 */
export function httpStatusOf(error: unknown): number | undefined {
  const { code, statusCode } = record(error);
  if (typeof statusCode === 'number') return statusCode;
  if (typeof code === 'number') return code;
  return undefined;
}

/** The TokenRequest object the API server takes for `request`. */
export function tokenRequestBody(request: ServiceAccountTokenRequest): unknown {
  return {
    apiVersion: 'authentication.k8s.io/v1',
    kind: 'TokenRequest',
    spec: {
      audiences: [request.audience],
      expirationSeconds: request.expirationSeconds,
      boundObjectRef: { apiVersion: 'v1', kind: 'Pod', name: request.pod.name, uid: request.pod.uid },
    },
  };
}

/** The issued token of a TokenRequest answer (status.token, status.expirationTimestamp); throws when either is missing. */
export function issuedTokenOf(answer: unknown): IssuedToken {
  const status = record(record(answer).status);
  const token = status.token;
  const expiration = typeof status.expirationTimestamp === 'string' ? Date.parse(status.expirationTimestamp) : Number.NaN;
  if (typeof token !== 'string' || token === '' || !Number.isFinite(expiration)) {
    throw new Error('the TokenRequest answer has no token or no expirationTimestamp');
  }
  return { token, expiration };
}

/** The user a node authenticates as, which constrained impersonation of the agent's own node names. */
export function nodeUserName(nodeName: string): string {
  return `system:node:${nodeName}`;
}
