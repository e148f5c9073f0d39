import { isDeepStrictEqual } from 'node:util';
import type {
  IssuedToken,
  JsonPatchOp,
  KubeTransport,
  ListRequest,
  ListResult,
  ServiceAccountTokenRequest,
  WatchHandle,
  WatchHandlers,
  WatchRequest,
  WatchResource,
} from '../../src/kube/api/transport-types.js';
import type { JsonWebKeySet } from '../../demo/oidc-token.js';
import { TokenIssuer } from '../../demo/token-issuer.js';
import type { PodInfo } from '../../src/kube/index.js';

let uid = 0;

/**
 * A pod on node-a, Running; override anything. `ip: undefined` is a pod the CNI has not reached
 * yet; `ips` defaults to `[ip]` (single-stack), give it for a dual-stack pod.
 */
export function podInfo(fields: Partial<PodInfo> & { name: string; ip: string | undefined }): PodInfo {
  return {
    ips: fields.ip === undefined ? [] : [fields.ip],
    uid: `uid-${++uid}`,
    namespace: 'gha',
    nodeName: 'node-a',
    phase: 'Running',
    terminating: false,
    hostNetwork: false,
    serviceAccountName: 'default',
    annotations: {},
    ...fields,
  };
}

interface Change {
  resourceVersion: number;
  type: 'ADDED' | 'MODIFIED' | 'DELETED';
  object: KubeJson;
}

type KubeJson = { metadata: { name: string; namespace?: string; uid?: string; resourceVersion?: string } & Record<string, unknown> } & Record<string, unknown>;

interface Watcher {
  request: WatchRequest;
  handlers: WatchHandlers;
}

/**
 * The Kubernetes edge of the agent, in memory: lists and watches answered the way the API server
 * answers them (resourceVersions, a watch replaying what happened after its version, the
 * spec.nodeName field selector), so the real reflectors, stores, pod index and IP waiters run on
 * top. Tests change the cluster with the verbs below, given the PodInfo the agent would parse;
 * an open watch delivers each change at once, as an event.
 */
export class ScriptedKube implements KubeTransport {
  private version = 0;
  private readonly objects = new Map<WatchResource, Map<string, KubeJson>>([['pods', new Map()], ['namespaces', new Map()], ['serviceaccounts', new Map()]]);
  private readonly history = new Map<WatchResource, Change[]>([['pods', []], ['namespaces', []], ['serviceaccounts', []]]);
  private readonly watchers = new Map<WatchResource, Set<Watcher>>([['pods', new Set()], ['namespaces', new Set()], ['serviceaccounts', new Set()]]);
  private heldLists: Array<() => void> | undefined;
  private readonly nodes = new Map<string, { spec: { taints?: unknown[] } } & Record<string, unknown>>();
  /** Every node patch the agent sent, in order, with the status it got. */
  readonly nodePatches: Array<{ name: string; patch: readonly JsonPatchOp[]; status: number }> = [];
  /** Status codes the next node requests (GET or PATCH) fail with, one each, before they work again. */
  readonly nodeFailures: number[] = [];
  /** Runs once a node read has been answered: another controller changing the node between our read and our patch. */
  afterNodeRead: ((name: string) => void) | undefined;
  private readonly watchOpened: Array<() => void> = [];
  private readonly tokenIssuer: TokenIssuer;
  /** Every TokenRequest the agent sent, in order, with the status it got. */
  readonly tokenRequests: Array<{ request: ServiceAccountTokenRequest; status: number }> = [];
  /** Status codes the next TokenRequests fail with, one each, before they work again. */
  readonly tokenFailures: number[] = [];

  /**
   * With `holdLists`, no list is answered until releaseLists(): an agent that has not synced yet.
   * `now` stamps the tokens it issues (iat, exp); default the system clock, which STS stand-ins check against.
   */
  constructor(options: { holdLists?: boolean; now?: () => number } = {}) {
    if (options.holdLists) this.heldLists = [];
    this.tokenIssuer = new TokenIssuer(undefined, options.now ?? Date.now);
  }

  /** The issuer of the tokens requestToken() signs (the API server's --service-account-issuer). */
  get issuer(): string {
    return this.tokenIssuer.issuer;
  }

  /** The issuer's public keys, as the API server serves them at /openid/v1/jwks. */
  jwks(): JsonWebKeySet {
    return this.tokenIssuer.jwks();
  }

  /** POST .../serviceaccounts/<name>/token as the API server answers it (demo/token-issuer.ts). */
  async requestToken(request: ServiceAccountTokenRequest): Promise<IssuedToken> {
    const scripted = this.tokenFailures.shift();
    const answer =
      scripted !== undefined
        ? { ok: false as const, status: scripted, message: `scripted failure ${scripted}` }
        : this.tokenIssuer.issue({
            ...request,
            account: this.of('serviceaccounts').get(`${request.namespace}/${request.serviceAccount}`),
            boundPod: [...this.of('pods').values()].find((p) => p.metadata.namespace === request.namespace && p.metadata.name === request.pod.name),
          });
    this.tokenRequests.push({ request: structuredClone(request), status: answer.ok ? 201 : answer.status });
    if (!answer.ok) throw apiError(answer.status, answer.message);
    return { token: answer.token, expiration: answer.expiration };
  }

  addPod(pod: PodInfo): PodInfo {
    this.put('pods', pod.uid, podObject(pod));
    return pod;
  }

  /** A MODIFIED event: the pod's new object replaces the old one (same uid). */
  updatePod(_pod: PodInfo, next: PodInfo): PodInfo {
    this.put('pods', next.uid, podObject(next));
    return next;
  }

  /** The CNI gave a scheduled pod its IP: the pod, as the watch's MODIFIED event carries it. */
  giveIp(pod: PodInfo, ip: string): PodInfo {
    return this.updatePod(pod, { ...pod, ip, ips: [ip], phase: 'Running' });
  }

  removePod(pod: PodInfo): void {
    this.delete('pods', pod.uid);
  }

  setNamespace(name: string, annotations: Record<string, string>): void {
    this.put('namespaces', name, { metadata: { name, uid: `ns-${name}`, annotations } });
  }

  setServiceAccount(namespace: string, name: string, annotations: Record<string, string>): void {
    this.put('serviceaccounts', `${namespace}/${name}`, { metadata: { name, namespace, uid: `sa-${namespace}-${name}`, annotations } });
  }

  /** A Node of the cluster, with these taints (what kubelet --register-with-taints leaves). */
  setNode(name: string, taints: ReadonlyArray<{ key: string; effect: string; value?: string }>): void {
    this.nodes.set(name, { metadata: { name, labels: { 'kubernetes.io/hostname': name } }, spec: { taints: structuredClone([...taints]) } });
  }

  /** The node's taints now. */
  taintsOf(name: string): unknown[] | undefined {
    return this.nodes.get(name)?.spec.taints;
  }

  async getNode(name: string): Promise<unknown> {
    this.failIfScripted();
    const node = this.nodes.get(name);
    if (node === undefined) throw apiError(404, `nodes "${name}" not found`);
    const answer = structuredClone(node);
    this.afterNodeRead?.(name);
    return answer;
  }

  /** The two operations the agent sends (`test` and `replace`) on any path under the node, all or nothing, as the API server applies a JSON patch. */
  async patchNode(name: string, patch: readonly JsonPatchOp[]): Promise<unknown> {
    const record = (status: number) => this.nodePatches.push({ name, patch: structuredClone(patch), status });
    try {
      this.failIfScripted();
    } catch (error) {
      record((error as { statusCode: number }).statusCode);
      throw error;
    }
    const node = this.nodes.get(name);
    if (node === undefined) {
      record(404);
      throw apiError(404, `nodes "${name}" not found`);
    }
    const next = structuredClone(node);
    for (const op of patch) {
      const steps = op.path.split('/').slice(1);
      const last = steps.pop() as string;
      let parent: Record<string, unknown> = next;
      for (const step of steps) parent = parent[step] as Record<string, unknown>;
      if (op.op === 'test' && !isDeepStrictEqual(parent[last], op.value)) {
        record(422);
        throw apiError(422, `the server rejected our request due to an error in our request: test operation on ${op.path} failed`);
      }
      if (op.op === 'replace') parent[last] = structuredClone(op.value);
    }
    this.nodes.set(name, next);
    record(200);
    return structuredClone(next);
  }

  private failIfScripted(): void {
    const status = this.nodeFailures.shift();
    if (status !== undefined) throw apiError(status, `scripted failure ${status}`);
  }

  /** Answers the lists held back since construction. */
  releaseLists(): void {
    const held = this.heldLists ?? [];
    this.heldLists = undefined;
    for (const answer of held) answer();
  }

  /** Resolves once a watch of each resource is open, so a change from now on reaches the agent at once. */
  async watching(resources: readonly WatchResource[] = ['pods', 'namespaces']): Promise<void> {
    while (!resources.every((resource) => (this.watchers.get(resource)?.size ?? 0) > 0)) {
      await new Promise<void>((resolve) => this.watchOpened.push(resolve));
    }
  }

  async list(resource: WatchResource, request: ListRequest): Promise<ListResult> {
    if (this.heldLists) {
      // A held list ends as a real one does when the reflector gives up on it: aborted.
      await new Promise<void>((resolve, reject) => {
        this.heldLists?.push(resolve);
        request.signal.addEventListener('abort', () => reject(new Error('list aborted')), { once: true });
      });
    }
    const items = [...this.of(resource).values()].filter((object) => selects(request.fieldSelector, object));
    return { items: structuredClone(items), resourceVersion: String(this.version) };
  }

  async watch(resource: WatchResource, request: WatchRequest, handlers: WatchHandlers): Promise<WatchHandle> {
    const watcher: Watcher = { request, handlers };
    const since = Number(request.resourceVersion || '0');
    for (const change of this.history.get(resource) ?? []) {
      if (change.resourceVersion > since) deliver(watcher, change);
    }
    const watchers = this.watchers.get(resource) as Set<Watcher>;
    watchers.add(watcher);
    for (const opened of this.watchOpened.splice(0)) opened();
    return { abort: () => watchers.delete(watcher) };
  }

  private of(resource: WatchResource): Map<string, KubeJson> {
    return this.objects.get(resource) as Map<string, KubeJson>;
  }

  /** Pods are kept by uid (a pod made again under the same name is another object), the rest by name. */
  private put(resource: WatchResource, key: string, object: KubeJson): void {
    const type = this.of(resource).has(key) ? 'MODIFIED' : 'ADDED';
    // Stored before the event goes out, as the API server's watch tells of what is already there.
    this.of(resource).set(key, object);
    this.record(resource, type, object);
  }

  private delete(resource: WatchResource, key: string): void {
    const object = this.of(resource).get(key);
    if (object === undefined) return;
    this.of(resource).delete(key);
    this.record(resource, 'DELETED', object);
  }

  private record(resource: WatchResource, type: Change['type'], object: KubeJson): void {
    const resourceVersion = ++this.version;
    object.metadata.resourceVersion = String(resourceVersion);
    const change: Change = { resourceVersion, type, object };
    this.history.get(resource)?.push(change);
    for (const watcher of [...(this.watchers.get(resource) ?? [])]) deliver(watcher, change);
  }
}


function deliver(watcher: Watcher, change: Change): void {
  if (selects(watcher.request.fieldSelector, change.object)) watcher.handlers.event(change.type, structuredClone(change.object));
}

/** The one field selector the agent sends: spec.nodeName=<node>. */
function selects(fieldSelector: string | undefined, object: KubeJson): boolean {
  const match = /^spec\.nodeName=(.*)$/.exec(fieldSelector ?? '');
  if (!match) return true;
  const spec = object.spec as { nodeName?: string } | undefined;
  return spec?.nodeName === match[1];
}

/** The Kubernetes object the API server would send for this pod. */
function podObject(pod: PodInfo): KubeJson {
  return {
    metadata: {
      name: pod.name,
      namespace: pod.namespace,
      uid: pod.uid,
      annotations: { ...pod.annotations },
      ...(pod.terminating ? { deletionTimestamp: '2026-01-01T00:00:00Z' } : {}),
    },
    spec: { nodeName: pod.nodeName, hostNetwork: pod.hostNetwork, serviceAccountName: pod.serviceAccountName },
    status: {
      phase: pod.phase,
      ...(pod.ips.length > 0 ? { podIP: pod.ips[0], podIPs: pod.ips.map((ip) => ({ ip })) } : {}),
    },
  };
}

/** What the http transport rejects with for an error answer: the status in `statusCode`. */
function apiError(statusCode: number, message: string): Error & { statusCode: number } {
  return Object.assign(new Error(message), { statusCode });
}
