import {
  CoreV1Api,
  PatchStrategy,
  setHeaderOptions,
  Watch,
  Observable,
  type ConfigurationOptions,
  type KubeConfig,
  type RequestContext,
  type ResponseContext,
} from '@kubernetes/client-node';
import { systemScheduler, type Scheduler } from '../../time/index.js';
import { issuedTokenOf, nodeUserName, RESOURCE_PATHS, tokenRequestBody, type KubeTransport } from './transport-types.js';

/**
 * The KubeTransport over @kubernetes/client-node. Importing client-node costs about 90 MB of RSS
 * (its config module loads every generated model), so the agent uses it only for kubeconfig users
 * that need what only client-node implements (exec plugins such as `aws eks get-token`,
 * auth-provider): see open-transport.ts, which imports this file on demand.
 */

/** Per-request options that attach an AbortSignal to a list call (client-node has no timeout of its own). */
export function withSignal(signal: AbortSignal): ConfigurationOptions {
  return {
    middleware: [
      {
        pre: (context: RequestContext) => {
          context.setSignal(signal);
          return new Observable(Promise.resolve(context));
        },
        post: (response: ResponseContext) => new Observable(Promise.resolve(response)),
      },
    ],
    middlewareMergeStrategy: 'append',
  };
}

export interface ClientNodeTransportOptions {
  /**
   * A list page is abandoned after this long in all (client-node reads an answer whole, so its
   * silence cannot be told from its size: pages keep each answer small). Default 30 s.
   */
  requestTimeoutMs?: number;
  scheduler?: Scheduler;
}

export function createClientNodeTransport(kubeConfig: KubeConfig, settings: ClientNodeTransportOptions = {}): KubeTransport {
  const core = kubeConfig.makeApiClient(CoreV1Api);
  const watcher = new Watch(kubeConfig);
  const requestTimeoutMs = settings.requestTimeoutMs ?? 30_000;
  const scheduler = settings.scheduler ?? systemScheduler;
  return {
    async list(resource, request) {
      const params = {
        fieldSelector: request.fieldSelector,
        resourceVersion: request.resourceVersion,
        resourceVersionMatch: request.resourceVersionMatch,
        limit: request.limit,
        _continue: request.continue,
      };
      const controller = new AbortController();
      const abort = () => controller.abort(request.signal.reason);
      request.signal.addEventListener('abort', abort, { once: true });
      const timer = scheduler.schedule(requestTimeoutMs, abort);
      const options = withSignal(controller.signal);
      try {
        const list =
          resource === 'pods'
            ? await core.listPodForAllNamespaces(params, options)
            : resource === 'namespaces'
              ? await core.listNamespace(params, options)
              : await core.listServiceAccountForAllNamespaces(params, options);
        const token = list.metadata?._continue;
        return { items: list.items, resourceVersion: list.metadata?.resourceVersion, ...(token ? { continue: token } : {}) };
      } finally {
        timer.cancel();
        request.signal.removeEventListener('abort', abort);
      }
    },
    async watch(resource, request, handlers) {
      const query: Record<string, string | number | boolean> = {
        resourceVersion: request.resourceVersion,
        allowWatchBookmarks: true,
        timeoutSeconds: request.timeoutSeconds,
      };
      if (request.fieldSelector !== undefined) query.fieldSelector = request.fieldSelector;
      const controller = await watcher.watch(
        RESOURCE_PATHS[resource],
        query,
        (type: string, object: unknown) => handlers.event(type, object),
        (error: unknown) => handlers.done(error ?? null),
      );
      return { abort: () => controller.abort() };
    },
    async getNode(name) {
      return asServerJson(await core.readNode({ name }));
    },
    patchNode(name, patch) {
      return core.patchNode({ name, body: patch }, setHeaderOptions('Content-Type', PatchStrategy.JsonPatch));
    },
    async requestToken(request) {
      const body = tokenRequestBody(request) as Parameters<CoreV1Api['createNamespacedServiceAccountToken']>[0]['body'];
      const options = request.asNode !== undefined ? setHeaderOptions('Impersonate-User', nodeUserName(request.asNode)) : undefined;
      const answer = await core.createNamespacedServiceAccountToken({ name: request.serviceAccount, namespace: request.namespace, body }, options);
      return issuedTokenOf(asServerJson(answer));
    },
  };
}

/**
 * A client-node model as the API server wrote it: its Dates back to RFC 3339 with whole seconds
 * (what metav1.Time sends), so a JSON patch `test` of a value read here matches the server's.
 */
function asServerJson(model: unknown): unknown {
  return JSON.parse(JSON.stringify(model, function (this: Record<string, unknown>, key: string, value: unknown) {
    const original = this[key];
    return original instanceof Date ? original.toISOString().replace(/\.000Z$/, 'Z') : value;
  }));
}
