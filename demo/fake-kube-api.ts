import { randomUUID } from 'node:crypto';
import { EventEmitter, once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { KubeConnection } from '../src/kube/index.js';
import { TokenIssuer } from './token-issuer.js';

/**
 * A Kubernetes API stand-in for the demo and for tests: the core/v1 pods, namespaces and
 * serviceaccounts that corridor reads, with list + watch semantics close to the real API server
 * (resourceVersions, field and equality-based label selectors, history replay, 410 Gone, bookmarks,
 * timeoutSeconds), the TokenRequest of a pod's ServiceAccount token (web-identity mode), and
 * knobs to break it (close watches, expire history, go down, slow lists).
 */

export type FakeResource = 'pods' | 'namespaces' | 'serviceaccounts';
export type FakeVerb = 'list' | 'watch' | 'get';

export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata: {
    name: string;
    namespace?: string;
    uid?: string;
    resourceVersion?: string;
    annotations?: Record<string, string>;
    labels?: Record<string, string>;
    deletionTimestamp?: string;
    creationTimestamp?: string;
    [field: string]: unknown;
  };
  spec?: Record<string, unknown>;
  status?: Record<string, unknown>;
  [field: string]: unknown;
}

export interface ObjectRef {
  name: string;
  /** Required for pods and ServiceAccounts, absent for namespaces. */
  namespace?: string;
}

export interface FakeRequest {
  verb: FakeVerb;
  resource: FakeResource;
  query: URLSearchParams;
}

/** One TokenRequest as the stand-in received it, and the status it answered. */
export interface FakeTokenRequest {
  namespace: string;
  serviceAccount: string;
  pod: { name: string; uid: string } | undefined;
  audiences: string[];
  expirationSeconds: number;
  /** The node the request impersonated (Impersonate-User: system:node:<name>), if any. */
  asNode: string | undefined;
  status: number;
}

export interface FakeKubeApiOptions {
  /** Bearer token clients must send; requests without it get 401. */
  token?: string;
  /** 0 (default) picks a free port. Always bound to 127.0.0.1. */
  port?: number;
  /** Objects present from the start. */
  objects?: readonly KubeObject[];
}

export interface ExpireOptions {
  /** How a watch from a too-old resourceVersion is refused: an ERROR event (as the API server does), or HTTP 410. */
  as?: 'event' | 'http';
  /** Also end open watches with an ERROR 410 event, as a watch-cache reset does. Default true. */
  evictOpenWatches?: boolean;
}

/** `unavailable`: answer 503 (an API server shedding load); `reset`: destroy the socket before any answer. */
export type DownMode = 'unavailable' | 'reset';

type EventType = 'ADDED' | 'MODIFIED' | 'DELETED';

interface HistoryEntry {
  resourceVersion: number;
  resource: FakeResource;
  type: EventType;
  object: KubeObject;
  previous: KubeObject | undefined;
}

interface Watcher {
  resource: FakeResource;
  namespace: string | undefined;
  selector: FieldSelector;
  bookmarks: boolean;
  response: http.ServerResponse;
  timer: NodeJS.Timeout | undefined;
}

const KINDS: Record<FakeResource, string> = { pods: 'Pod', namespaces: 'Namespace', serviceaccounts: 'ServiceAccount' };
const RESOURCES = Object.keys(KINDS) as FakeResource[];

export class FakeKubeApi extends EventEmitter {
  /** Delay before answering a list, to model a slow API server. */
  listDelayMs = 0;
  /** Requests received, by verb and resource (including refused ones). */
  readonly requests: Record<FakeVerb, Record<FakeResource, number>> = {
    list: { pods: 0, namespaces: 0, serviceaccounts: 0 },
    watch: { pods: 0, namespaces: 0, serviceaccounts: 0 },
    get: { pods: 0, namespaces: 0, serviceaccounts: 0 },
  };

  private readonly server: http.Server;
  private readonly objects: Record<FakeResource, Map<string, KubeObject>> = {
    pods: new Map(),
    namespaces: new Map(),
    serviceaccounts: new Map(),
  };
  private readonly watchers = new Set<Watcher>();
  private history: HistoryEntry[] = [];
  private revision = 1000;
  /** Watches must start at or after this resourceVersion; older ones get 410. */
  private compactedRevision = 0;
  private expiredAs: 'event' | 'http' = 'event';
  private down: { mode: DownMode; resources: ReadonlySet<FakeResource> | undefined } | undefined;
  private baseUrl = '';
  /** Signs ServiceAccount tokens; its jwks() is what an STS stand-in verifies them with. */
  readonly tokenIssuer = new TokenIssuer();
  /** Every TokenRequest received, in order. */
  readonly tokenRequests: FakeTokenRequest[] = [];

  /** The bearer token requests must carry; change it to model a rotated token. */
  constructor(public token: string = 'corridor-fake-token') {
    super();
    this.server = http.createServer((request, response) => this.handle(request, response));
  }

  get url(): string {
    return this.baseUrl;
  }

  /** The current (latest) resourceVersion. */
  get resourceVersion(): string {
    return String(this.revision);
  }

  get openWatches(): number {
    return this.watchers.size;
  }

  async listen(port = 0): Promise<this> {
    this.server.listen(port, '127.0.0.1');
    await once(this.server, 'listening');
    this.baseUrl = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  async close(): Promise<void> {
    for (const watcher of [...this.watchers]) this.endWatch(watcher, 'destroy');
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  /** How the agent's transport reaches this server (the current token). */
  connection(): KubeConnection {
    return { server: this.baseUrl, token: this.token, insecureSkipTlsVerify: false, source: 'fake-kube-api' };
  }

  /**
   * A kubeconfig file's text for this server (plain http://) and the current token, for
   * `--kubeconfig` (JSON is YAML).
   */
  kubeConfigText(): string {
    return JSON.stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'fake', cluster: { server: this.baseUrl } }],
      users: [{ name: 'fake', user: { token: this.token } }],
      contexts: [{ name: 'fake', context: { cluster: 'fake', user: 'fake' } }],
      'current-context': 'fake',
    });
  }

  // ---- objects ----

  /** Creates or replaces an object (ADDED or MODIFIED for watchers). The resource is taken from `kind`. */
  upsert(object: KubeObject): KubeObject {
    const resource = resourceOfKind(object.kind);
    const key = keyOf(object.metadata);
    const previous = this.objects[resource].get(key);
    const stored = structuredClone(object);
    stored.apiVersion ??= 'v1';
    stored.metadata.uid ??= previous?.metadata.uid ?? randomUUID();
    stored.metadata.creationTimestamp ??= previous?.metadata.creationTimestamp ?? new Date().toISOString();
    stored.metadata.resourceVersion = String(++this.revision);
    this.objects[resource].set(key, stored);
    this.record(resource, previous ? 'MODIFIED' : 'ADDED', stored, previous);
    return structuredClone(stored);
  }

  /** Changes an existing object in place (MODIFIED). Throws if it does not exist: a test bug. */
  modify(resource: FakeResource, ref: ObjectRef, mutate: (object: KubeObject) => void): KubeObject {
    const current = this.objects[resource].get(keyOf(ref));
    if (!current) throw new Error(`fake-kube-api: no ${resource} ${keyOf(ref)}`);
    const next = structuredClone(current);
    mutate(next);
    next.kind = KINDS[resource];
    next.metadata.name = current.metadata.name;
    next.metadata.namespace = current.metadata.namespace;
    next.metadata.uid = current.metadata.uid;
    return this.upsert(next);
  }

  /** Deletes an object (DELETED for watchers). Returns false if it did not exist. */
  remove(resource: FakeResource, ref: ObjectRef): boolean {
    const key = keyOf(ref);
    const previous = this.objects[resource].get(key);
    if (!previous) return false;
    this.objects[resource].delete(key);
    const gone = structuredClone(previous);
    gone.metadata.resourceVersion = String(++this.revision);
    this.record(resource, 'DELETED', gone, previous);
    return true;
  }

  get(resource: FakeResource, ref: ObjectRef): KubeObject | undefined {
    const object = this.objects[resource].get(keyOf(ref));
    return object && structuredClone(object);
  }

  list(resource: FakeResource): KubeObject[] {
    return [...this.objects[resource].values()].map((object) => structuredClone(object));
  }

  modifyPod(namespace: string, name: string, mutate: (pod: KubeObject) => void): KubeObject {
    return this.modify('pods', { namespace, name }, mutate);
  }

  deletePod(namespace: string, name: string): boolean {
    return this.remove('pods', { namespace, name });
  }

  /** Sets a namespace's annotations (creating it if needed). */
  annotateNamespace(name: string, annotations: Record<string, string>): KubeObject {
    const existing = this.objects.namespaces.get(name);
    if (!existing) return this.upsert(makeNamespace(name, annotations));
    return this.modify('namespaces', { name }, (ns) => {
      ns.metadata.annotations = { ...annotations };
    });
  }

  // ---- faults ----

  /** Ends every open watch cleanly, as the API server does at timeoutSeconds or on restart. */
  closeWatches(): void {
    for (const watcher of [...this.watchers]) this.endWatch(watcher, 'end');
  }

  /** Forgets the event history: watches from an older resourceVersion now get 410 Gone and must relist. */
  expireHistory(options: ExpireOptions = {}): void {
    this.compactedRevision = this.revision;
    this.history = [];
    this.expiredAs = options.as ?? 'event';
    if (options.evictOpenWatches === false) return;
    for (const watcher of [...this.watchers]) {
      writeEvent(watcher.response, { type: 'ERROR', object: goneStatus(this.revision, this.revision) });
      this.endWatch(watcher, 'end');
    }
  }

  /**
   * Takes the API server away (open watches are cut) or brings it back. With `resources`, only
   * requests for those fail, e.g. a ServiceAccount list that never succeeds.
   */
  setDown(down: boolean, mode: DownMode = 'unavailable', resources?: readonly FakeResource[]): void {
    this.down = down ? { mode, resources: resources && new Set(resources) } : undefined;
    if (!down) return;
    for (const watcher of [...this.watchers]) {
      if (this.isDown(watcher.resource)) this.endWatch(watcher, 'destroy');
    }
  }

  private isDown(resource: FakeResource | undefined): DownMode | undefined {
    if (!this.down) return undefined;
    if (this.down.resources && (resource === undefined || !this.down.resources.has(resource))) return undefined;
    return this.down.mode;
  }

  /** Sends a BOOKMARK with the current resourceVersion to watches that asked for bookmarks. */
  sendBookmark(): void {
    for (const watcher of this.watchers) {
      if (!watcher.bookmarks) continue;
      writeEvent(watcher.response, {
        type: 'BOOKMARK',
        object: { kind: KINDS[watcher.resource], apiVersion: 'v1', metadata: { resourceVersion: this.resourceVersion } },
      });
    }
  }

  /** Resolves with the next request of this verb and resource. */
  nextRequest(verb: FakeVerb, resource: FakeResource): Promise<FakeRequest> {
    return new Promise((resolve) => {
      const listener = (request: FakeRequest) => {
        if (request.verb !== verb || request.resource !== resource) return;
        this.off('request', listener);
        resolve(request);
      };
      this.on('request', listener);
    });
  }

  // ---- HTTP ----

  private handle(request: http.IncomingMessage, response: http.ServerResponse): void {
    const url = new URL(request.url ?? '/', 'http://fake');
    const route = parseRoute(url.pathname);
    if (route) {
      const verb: FakeVerb = route.name !== undefined ? 'get' : isWatch(url.searchParams) ? 'watch' : 'list';
      this.requests[verb][route.resource]++;
      this.emit('request', { verb, resource: route.resource, query: url.searchParams } satisfies FakeRequest);
    }
    const down = this.isDown(route?.resource);
    if (down === 'reset') {
      request.socket.destroy();
      return;
    }
    if (down === 'unavailable') return sendStatus(response, 503, 'ServiceUnavailable', 'the fake API server is down');
    if (request.headers.authorization !== `Bearer ${this.token}`) return sendStatus(response, 401, 'Unauthorized', 'Unauthorized');
    const tokenRoute = parseTokenRoute(url.pathname);
    if (tokenRoute && request.method === 'POST') {
      void readJson(request).then((body) => this.answerTokenRequest(tokenRoute, body, request.headers['impersonate-user'], response));
      return;
    }
    if (request.method !== 'GET') return sendStatus(response, 405, 'MethodNotAllowed', `${request.method} is not supported here`);
    if (!route) return sendStatus(response, 404, 'NotFound', `no route for ${url.pathname}`);

    const selector = [...parseFieldSelector(url.searchParams.get('fieldSelector') ?? ''), ...parseLabelSelector(url.searchParams.get('labelSelector') ?? '')];
    if (route.name !== undefined) {
      const object = this.objects[route.resource].get(keyOf({ namespace: route.namespace, name: route.name }));
      if (!object) return sendStatus(response, 404, 'NotFound', `${route.resource} "${route.name}" not found`);
      return sendJson(response, 200, object);
    }
    if (isWatch(url.searchParams)) return this.startWatch(route.resource, route.namespace, selector, url.searchParams, response);
    const answer = () => {
      if (response.destroyed) return;
      const items = this.matching(route.resource, route.namespace, selector);
      sendJson(response, 200, {
        kind: `${KINDS[route.resource]}List`,
        apiVersion: 'v1',
        metadata: { resourceVersion: this.resourceVersion },
        items,
      });
    };
    if (this.listDelayMs > 0) setTimeout(answer, this.listDelayMs).unref();
    else answer();
  }

  /**
   * POST /api/v1/namespaces/<ns>/serviceaccounts/<name>/token: a pod-bound token (this stand-in
   * issues no other kind), signed by tokenIssuer; as a node (impersonated), only for a pod on it,
   * as NodeRestriction allows.
   */
  private answerTokenRequest(
    route: { namespace: string; serviceAccount: string },
    body: unknown,
    impersonate: string | string[] | undefined,
    response: http.ServerResponse,
  ): void {
    const spec = ((body as { spec?: unknown } | undefined)?.spec ?? {}) as {
      audiences?: string[];
      expirationSeconds?: number;
      boundObjectRef?: { kind?: string; name?: string; uid?: string };
    };
    const ref = spec.boundObjectRef;
    const asNode = typeof impersonate === 'string' && impersonate.startsWith('system:node:') ? impersonate.slice('system:node:'.length) : undefined;
    const record: FakeTokenRequest = {
      ...route,
      pod: ref?.kind === 'Pod' && ref.name !== undefined ? { name: ref.name, uid: ref.uid ?? '' } : undefined,
      audiences: [...(spec.audiences ?? [])],
      expirationSeconds: spec.expirationSeconds ?? 3600,
      asNode,
      status: 0,
    };
    this.tokenRequests.push(record);
    const refuse = (code: number, reason: string, message: string) => {
      record.status = code;
      sendStatus(response, code, reason, message);
    };
    if (record.pod === undefined) return refuse(400, 'BadRequest', 'this stand-in issues only tokens bound to a pod');
    if (record.audiences.length !== 1) return refuse(400, 'BadRequest', 'this stand-in issues tokens for exactly one audience');
    const boundPod = this.objects.pods.get(keyOf({ namespace: route.namespace, name: record.pod.name }));
    if (asNode !== undefined && boundPod !== undefined && boundPod.spec?.nodeName !== asNode) {
      return refuse(403, 'Forbidden', 'node requested token bound to a pod scheduled on a different node');
    }
    const answer = this.tokenIssuer.issue({
      namespace: route.namespace,
      serviceAccount: route.serviceAccount,
      pod: record.pod,
      audience: record.audiences[0] as string,
      expirationSeconds: record.expirationSeconds,
      account: this.objects.serviceaccounts.get(keyOf({ namespace: route.namespace, name: route.serviceAccount })),
      boundPod,
    });
    if (!answer.ok) return refuse(answer.status, answer.status === 404 ? 'NotFound' : answer.status === 409 ? 'Conflict' : 'BadRequest', answer.message);
    record.status = 201;
    sendJson(response, 201, {
      apiVersion: 'authentication.k8s.io/v1',
      kind: 'TokenRequest',
      metadata: { name: route.serviceAccount, namespace: route.namespace },
      spec: { ...spec, expirationSeconds: record.expirationSeconds },
      status: { token: answer.token, expirationTimestamp: new Date(answer.expiration).toISOString() },
    });
  }

  private matching(resource: FakeResource, namespace: string | undefined, selector: FieldSelector): KubeObject[] {
    return [...this.objects[resource].entries()]
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([, object]) => object)
      .filter((object) => inScope(object, namespace, selector));
  }

  private startWatch(
    resource: FakeResource,
    namespace: string | undefined,
    selector: FieldSelector,
    query: URLSearchParams,
    response: http.ServerResponse,
  ): void {
    const from = query.get('resourceVersion') ?? '';
    const fromRevision = from === '' || from === '0' ? undefined : Number(from);
    if (fromRevision !== undefined && (!Number.isFinite(fromRevision) || fromRevision < this.compactedRevision)) {
      const status = goneStatus(fromRevision, this.compactedRevision);
      if (this.expiredAs === 'http') return sendJson(response, 410, status);
      response.writeHead(200, { 'content-type': 'application/json' });
      writeEvent(response, { type: 'ERROR', object: status });
      response.end();
      return;
    }
    response.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-cache' });
    response.flushHeaders();
    const watcher: Watcher = {
      resource,
      namespace,
      selector,
      bookmarks: query.get('allowWatchBookmarks') === 'true',
      response,
      timer: undefined,
    };
    this.watchers.add(watcher);
    response.on('close', () => {
      clearTimeout(watcher.timer);
      this.watchers.delete(watcher);
    });
    const timeoutSeconds = Number(query.get('timeoutSeconds') ?? '0');
    if (timeoutSeconds > 0) watcher.timer = setTimeout(() => this.endWatch(watcher, 'end'), timeoutSeconds * 1000).unref();

    if (fromRevision === undefined) {
      // No resourceVersion: the API server first sends the current state as synthetic ADDED events.
      for (const object of this.matching(resource, namespace, selector)) writeEvent(response, { type: 'ADDED', object });
      return;
    }
    for (const entry of this.history) {
      if (entry.resource === resource && entry.resourceVersion > fromRevision) this.deliver(watcher, entry);
    }
  }

  private record(resource: FakeResource, type: EventType, object: KubeObject, previous: KubeObject | undefined): void {
    const entry: HistoryEntry = { resourceVersion: this.revision, resource, type, object, previous };
    this.history.push(entry);
    for (const watcher of this.watchers) if (watcher.resource === resource) this.deliver(watcher, entry);
  }

  /** Like the API server, an object that moves into or out of a watcher's selector is ADDED or DELETED for it. */
  private deliver(watcher: Watcher, entry: HistoryEntry): void {
    const now = entry.type !== 'DELETED' && inScope(entry.object, watcher.namespace, watcher.selector);
    const before = entry.previous !== undefined && inScope(entry.previous, watcher.namespace, watcher.selector);
    let type: EventType | undefined;
    if (entry.type === 'DELETED') type = before ? 'DELETED' : undefined;
    else if (now) type = before ? 'MODIFIED' : 'ADDED';
    else if (before) type = 'DELETED';
    if (type) writeEvent(watcher.response, { type, object: entry.object });
  }

  private endWatch(watcher: Watcher, how: 'end' | 'destroy'): void {
    clearTimeout(watcher.timer);
    this.watchers.delete(watcher);
    if (how === 'destroy') watcher.response.socket?.destroy();
    else watcher.response.end();
  }
}

/** Starts a fake API server on 127.0.0.1 (a free port unless one is given). */
export async function startFakeKubeApi(options: FakeKubeApiOptions = {}): Promise<FakeKubeApi> {
  const api = new FakeKubeApi(options.token);
  for (const object of options.objects ?? []) api.upsert(object);
  return api.listen(options.port ?? 0);
}

// ---- builders ----

export interface PodSpecInput {
  name: string;
  namespace?: string;
  /** status.podIP; omit for a pod that has none yet. */
  ip?: string;
  /** A dual-stack pod's status.podIPs after `ip` (its IPv6 address, say). */
  moreIps?: string[];
  nodeName?: string;
  annotations?: Record<string, string>;
  labels?: Record<string, string>;
  /** Default Running. */
  phase?: string;
  serviceAccountName?: string;
  hostNetwork?: boolean;
  /** Marks the pod terminating; `true` uses a fixed time. */
  deletionTimestamp?: string | true;
  uid?: string;
}

export function makePod(input: PodSpecInput): KubeObject {
  const pod: KubeObject = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: input.name,
      namespace: input.namespace ?? 'default',
      annotations: { ...(input.annotations ?? {}) },
      labels: { ...(input.labels ?? {}) },
    },
    spec: {
      nodeName: input.nodeName ?? 'node-a',
      serviceAccountName: input.serviceAccountName ?? 'default',
      hostNetwork: input.hostNetwork ?? false,
      containers: [{ name: 'main', image: 'public.ecr.aws/docker/library/busybox:stable' }],
    },
    status: { phase: input.phase ?? 'Running' },
  };
  if (input.uid !== undefined) pod.metadata.uid = input.uid;
  if (input.ip !== undefined) {
    (pod.status as Record<string, unknown>).podIP = input.ip;
    (pod.status as Record<string, unknown>).podIPs = [input.ip, ...(input.moreIps ?? [])].map((ip) => ({ ip }));
  }
  if (input.deletionTimestamp !== undefined) {
    pod.metadata.deletionTimestamp = input.deletionTimestamp === true ? '2026-01-01T00:00:00Z' : input.deletionTimestamp;
  }
  return pod;
}

export function makeNamespace(name: string, annotations: Record<string, string> = {}): KubeObject {
  return { apiVersion: 'v1', kind: 'Namespace', metadata: { name, annotations: { ...annotations } }, status: { phase: 'Active' } };
}

export function makeServiceAccount(namespace: string, name: string, annotations: Record<string, string> = {}): KubeObject {
  return { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name, namespace, annotations: { ...annotations } } };
}

// ---- helpers ----

/** The API server reads the watch parameter as a Go bool: `true` and `1` both mean watch. */
function isWatch(query: URLSearchParams): boolean {
  const value = query.get('watch');
  return value === 'true' || value === '1';
}

function resourceOfKind(kind: string | undefined): FakeResource {
  const resource = RESOURCES.find((r) => KINDS[r] === kind);
  if (!resource) throw new Error(`fake-kube-api: unsupported kind ${String(kind)} (Pod, Namespace or ServiceAccount)`);
  return resource;
}

function keyOf(ref: { namespace?: string | undefined; name: string }): string {
  return ref.namespace ? `${ref.namespace}/${ref.name}` : ref.name;
}

interface Route {
  resource: FakeResource;
  namespace: string | undefined;
  name: string | undefined;
}

function parseRoute(pathname: string): Route | undefined {
  const parts = pathname.split('/').filter(Boolean).map(decodeURIComponent);
  if (parts[0] !== 'api' || parts[1] !== 'v1') return undefined;
  const rest = parts.slice(2);
  const isResource = (value: string | undefined): value is FakeResource => RESOURCES.includes(value as FakeResource);
  // /api/v1/{resource}
  if (rest.length === 1 && isResource(rest[0])) return { resource: rest[0], namespace: undefined, name: undefined };
  if (rest[0] !== 'namespaces') return undefined;
  // /api/v1/namespaces/{name}
  if (rest.length === 2) return { resource: 'namespaces', namespace: undefined, name: rest[1] };
  // /api/v1/namespaces/{ns}/{resource}[/{name}]
  if ((rest.length === 3 || rest.length === 4) && isResource(rest[2]) && rest[2] !== 'namespaces') {
    return { resource: rest[2], namespace: rest[1], name: rest[3] };
  }
  return undefined;
}

/** /api/v1/namespaces/{ns}/serviceaccounts/{name}/token */
function parseTokenRoute(pathname: string): { namespace: string; serviceAccount: string } | undefined {
  const parts = pathname.split('/').filter(Boolean).map(decodeURIComponent);
  const [api, version, namespaces, namespace, resource, serviceAccount, sub] = parts;
  if (parts.length !== 7 || api !== 'api' || version !== 'v1' || namespaces !== 'namespaces' || resource !== 'serviceaccounts' || sub !== 'token') {
    return undefined;
  }
  return { namespace: namespace as string, serviceAccount: serviceAccount as string };
}

/** A request's JSON body; undefined when it is not JSON. */
async function readJson(request: http.IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    return undefined;
  }
}

interface FieldRequirement {
  path: string[];
  value: string;
  equal: boolean;
}
type FieldSelector = FieldRequirement[];

/** `spec.nodeName=node-a,status.phase!=Succeeded`: the forms corridor and kubectl use. */
function parseFieldSelector(text: string): FieldSelector {
  return text
    .split(',')
    .filter(Boolean)
    .map((term) => {
      const match = /^([^!=]+)(==|=|!=)(.*)$/.exec(term);
      if (!match) return { path: [], value: '', equal: true };
      return { path: (match[1] as string).split('.'), value: match[3] as string, equal: match[2] !== '!=' };
    });
}

/**
 * `app.kubernetes.io/name=corridor,tier!=web`: the equality-based forms, as requirements on
 * metadata.labels (a label key holds dots and slashes, so it is one path step). As on the API
 * server, `!=` also matches objects without the label.
 */
function parseLabelSelector(text: string): FieldSelector {
  return text
    .split(',')
    .filter(Boolean)
    .map((term) => {
      const match = /^([^!=]+)(==|=|!=)(.*)$/.exec(term.trim());
      if (!match) return { path: [], value: '', equal: true };
      return { path: ['metadata', 'labels', (match[1] as string).trim()], value: (match[3] as string).trim(), equal: match[2] !== '!=' };
    });
}

function inScope(object: KubeObject, namespace: string | undefined, selector: FieldSelector): boolean {
  if (namespace !== undefined && object.metadata.namespace !== namespace) return false;
  return selector.every(({ path, value, equal }) => {
    let current: unknown = object;
    for (const step of path) current = typeof current === 'object' && current !== null ? (current as Record<string, unknown>)[step] : undefined;
    const actual = typeof current === 'string' || typeof current === 'number' || typeof current === 'boolean' ? String(current) : '';
    return (actual === value) === equal;
  });
}

function goneStatus(requested: number, oldest: number): Record<string, unknown> {
  return {
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Failure',
    message: `too old resource version: ${requested} (${oldest})`,
    reason: 'Expired',
    code: 410,
  };
}

function writeEvent(response: http.ServerResponse, event: { type: string; object: unknown }): void {
  if (!response.writableEnded && !response.destroyed) response.write(`${JSON.stringify(event)}\n`);
}

function sendJson(response: http.ServerResponse, code: number, body: unknown): void {
  response.writeHead(code, { 'content-type': 'application/json' }).end(JSON.stringify(body));
}

function sendStatus(response: http.ServerResponse, code: number, reason: string, message: string): void {
  sendJson(response, code, { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code });
}
