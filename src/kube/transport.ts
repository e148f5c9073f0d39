import {
  CoreV1Api,
  Watch,
  Observable,
  type ConfigurationOptions,
  type KubeConfig,
  type RequestContext,
  type ResponseContext,
} from '@kubernetes/client-node';
import type { WatchResource } from '../metrics/index.js';

export interface ListRequest {
  fieldSelector?: string;
  /** '0' lets the API server answer from its watch cache; undefined asks for a consistent read. */
  resourceVersion?: string;
  signal: AbortSignal;
}

export interface ListResult {
  items: readonly unknown[];
  resourceVersion: string | undefined;
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
  abort(): void;
}

/** The two calls a reflector needs; the real one is client-node, tests may pass a scripted one. */
export interface KubeTransport {
  list(resource: WatchResource, request: ListRequest): Promise<ListResult>;
  /** Resolves once the stream is open (or has already failed through `done`). */
  watch(resource: WatchResource, request: WatchRequest, handlers: WatchHandlers): Promise<WatchHandle>;
}

const WATCH_PATHS: Record<WatchResource, string> = {
  pods: '/api/v1/pods',
  namespaces: '/api/v1/namespaces',
  serviceaccounts: '/api/v1/serviceaccounts',
};

/**
 * The HTTP status behind an error from either client-node path: list calls throw ApiException
 * (`code`), the Watch class passes an Error with `statusCode`. Network errors have neither.
 */
export function httpStatusOf(error: unknown): number | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const { code, statusCode } = error as { code?: unknown; statusCode?: unknown };
  if (typeof statusCode === 'number') return statusCode;
  if (typeof code === 'number') return code;
  return undefined;
}

/** Per-request options that attach an AbortSignal to a list call (client-node has no timeout of its own). */
function withSignal(signal: AbortSignal): ConfigurationOptions {
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

export function createKubeTransport(kubeConfig: KubeConfig): KubeTransport {
  const core = kubeConfig.makeApiClient(CoreV1Api);
  const watcher = new Watch(kubeConfig);
  return {
    async list(resource, { fieldSelector, resourceVersion, signal }) {
      const params = { fieldSelector, resourceVersion };
      const options = withSignal(signal);
      const list =
        resource === 'pods'
          ? await core.listPodForAllNamespaces(params, options)
          : resource === 'namespaces'
            ? await core.listNamespace(params, options)
            : await core.listServiceAccountForAllNamespaces(params, options);
      return { items: list.items, resourceVersion: list.metadata?.resourceVersion };
    },
    async watch(resource, request, handlers) {
      const query: Record<string, string | number | boolean> = {
        resourceVersion: request.resourceVersion,
        allowWatchBookmarks: true,
        timeoutSeconds: request.timeoutSeconds,
      };
      if (request.fieldSelector !== undefined) query.fieldSelector = request.fieldSelector;
      const controller = await watcher.watch(
        WATCH_PATHS[resource],
        query,
        (type: string, object: unknown) => handlers.event(type, object),
        (error: unknown) => handlers.done(error ?? null),
      );
      return { abort: () => controller.abort() };
    },
  };
}
