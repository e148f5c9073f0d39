import type { Logger } from '../log/index.js';
import type { Metrics } from '../metrics/index.js';
import type { Clock, Scheduler, Timer } from '../time/index.js';
import { IpWaiters } from './ip-waiters.js';
import { keepingAnnotations, parseNamespace, parseServiceAccount } from './parse.js';
import { PodIndex } from './pod-index.js';
import { Reflector, type ReflectorStore, type ReflectorTimings } from './reflector.js';
import { AnnotatedCache, createPodStore } from './stores.js';
import type { KubeTransport, WatchResource } from './api/transport-types.js';
import type { NamespaceInfo, PodDirectory, PodInfo, ServiceAccountInfo } from './types.js';

export interface PodDirectoryOptions extends ReflectorTimings {
  /** How lists and watches reach the API server: openKubeTransport() in the agent, anything scripted in tests. */
  transport: KubeTransport;
  /** Only pods bound to this node are watched (fieldSelector spec.nodeName). */
  nodeName: string;
  /** Watch ServiceAccounts too (needed only when their annotations may pick a role). */
  watchServiceAccounts: boolean;
  /**
   * The namespace and ServiceAccount annotations decisions read; the caches keep only these, so
   * a cluster's namespaces cost the agent a name each, not their metadata. Default: all.
   */
  annotationKeys?: Iterable<string>;
  /**
   * The first lists start after a random delay of up to this long, so agents started together (a
   * DaemonSet rollout, a batch of new nodes) do not reach the API server in one instant. Default 0.
   */
  startJitterMs?: number;
  scheduler: Scheduler;
  clock: Clock;
  metrics: Metrics;
  logger: Logger;
}

export interface RunningPodDirectory extends PodDirectory {
  /** Starts the list-watch loops; never throws, never rejects: API trouble is retried and logged. */
  start(): void;
  /** Stops watching and answers pending waitForIp calls with what is known. */
  stop(): void;
  /** Resolves once isReady() is true. */
  whenReady(): Promise<void>;
}

export function createPodDirectory(options: PodDirectoryOptions): RunningPodDirectory {
  const logger = options.logger.child({ component: 'kube' });
  const { metrics } = options;
  const index = new PodIndex();
  const waiters = new IpWaiters(options.scheduler, (ip) => index.byIp(ip));
  const listeners: Array<(pods: readonly PodInfo[]) => void> = [];

  let ready = false;
  const notify = (pods: readonly PodInfo[]) => {
    // Before every first list is in, decisions would be made on half the inputs (a pod without
    // its namespace); listeners hear about all pods at once when the directory becomes ready.
    if (!ready) return;
    for (const listener of listeners) {
      try {
        listener(pods);
      } catch (error) {
        logger.error({ err: error }, 'a pod change listener threw');
      }
    }
  };

  const podStore = createPodStore(index, options.nodeName, (pods, ips) => {
    metrics.pods.set(index.size);
    waiters.changed(ips);
    notify(pods);
  });
  const parse = options.annotationKeys === undefined
    ? { namespace: parseNamespace, serviceAccount: parseServiceAccount }
    : keepingAnnotations(new Set(options.annotationKeys));
  const namespaces = new AnnotatedCache<NamespaceInfo>(parse.namespace, (ns) => ns.name, (changed) => {
    const names = new Set(changed.map((ns) => ns.name));
    notify(index.pods().filter((pod) => names.has(pod.namespace)));
  });
  const serviceAccounts = new AnnotatedCache<ServiceAccountInfo>(parse.serviceAccount, serviceAccountKey, (changed) => {
    const keys = new Set(changed.map(serviceAccountKey));
    notify(index.pods().filter((pod) => keys.has(`${pod.namespace}/${pod.serviceAccountName}`)));
  });

  let markReady: () => void = () => {};
  const readyPromise = new Promise<void>((resolve) => {
    markReady = resolve;
  });

  const { transport } = options;
  const reflector = (resource: WatchResource, store: ReflectorStore, fieldSelector?: string) =>
    new Reflector({
      resource,
      fieldSelector,
      transport,
      store,
      scheduler: options.scheduler,
      clock: options.clock,
      metrics,
      logger,
      backoff: options.backoff,
      requestTimeoutMs: options.requestTimeoutMs,
      watchTimeoutSeconds: options.watchTimeoutSeconds,
      random: options.random,
      onListed: checkReady,
    });
  const reflectors = [
    reflector('pods', podStore, `spec.nodeName=${options.nodeName}`),
    reflector('namespaces', namespaces),
    ...(options.watchServiceAccounts ? [reflector('serviceaccounts', serviceAccounts)] : []),
  ];

  function checkReady(): void {
    if (ready || !reflectors.every((r) => r.listed)) return;
    ready = true;
    metrics.ready.set(1);
    metrics.pods.set(index.size);
    logger.info({ pods: index.size, namespaces: namespaces.size }, 'kubernetes caches synced');
    markReady();
    notify(index.pods());
  }

  let startTimer: Timer | undefined;
  return {
    byIp: (ip) => index.byIp(ip),
    waitForIp: (ip, timeoutMs) => waiters.wait(ip, timeoutMs),
    namespace: (name) => namespaces.get(name),
    // Without --service-account-roles the cache stays empty: no key is built on the request path.
    serviceAccount: (namespace, name) => (serviceAccounts.size === 0 ? undefined : serviceAccounts.get(`${namespace}/${name}`)),
    pods: () => index.pods(),
    onChange: (listener) => {
      listeners.push(listener);
    },
    isReady: () => ready,
    whenReady: () => readyPromise,
    start() {
      const delayMs = Math.round((options.random ?? Math.random)() * (options.startJitterMs ?? 0));
      const startAll = () => {
        startTimer = undefined;
        for (const r of reflectors) r.start();
      };
      if (delayMs <= 0) return startAll();
      logger.debug({ delayMs }, 'first lists after a start jitter');
      startTimer = options.scheduler.schedule(delayMs, startAll);
    },
    stop() {
      startTimer?.cancel();
      startTimer = undefined;
      for (const r of reflectors) r.stop();
      waiters.releaseAll();
    },
  };
}

function serviceAccountKey(account: ServiceAccountInfo): string {
  return `${account.namespace}/${account.name}`;
}
