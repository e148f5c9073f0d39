import { Counter, Gauge, Histogram, collectDefaultMetrics, type LabelValues, type Registry } from 'prom-client';
import { DeferredCounts, FastHistogram, type CounterHandle } from './deferred.js';

/** Every corridor_ metric, registered on the registry passed in (never the global one). */
export interface Metrics {
  registry: Registry;
  /** Request-path metrics (requests, requestDuration, credentialCache, decisions): update them through `handle`s. */
  requests: Counter<'route' | 'code'>;
  requestDuration: FastHistogram<'route'>;
  stsCalls: Counter<'result'>;
  stsCallDuration: Histogram<string>;
  credentialCache: Counter<'result'>;
  sessions: Gauge<string>;
  sessionMinRemaining: Gauge<string>;
  decisions: Counter<'outcome' | 'reason'>;
  watchRestarts: Counter<'resource'>;
  kubeThrottled: Counter<'resource'>;
  connectionsRefused: Counter<'server' | 'reason'>;
  sharedBridges: Gauge<string>;
  nodeImdsPosture: Gauge<'posture'>;
  pods: Gauge<string>;
  ready: Gauge<string>;
  buildInfo: Gauge<'version'>;
  /**
   * Where corridor_sessions and corridor_session_min_remaining_seconds come from: read by
   * prom-client's collect at every scrape, since a lifetime shrinks with the clock, not on events.
   */
  readSessionsFrom(source: () => SessionLifetimes): void;
  /** A cheap handle on one label set of requests, credentialCache or decisions; keep it and call inc(). */
  handle<T extends string>(counter: Counter<T>, labels: LabelValues<T>): CounterHandle;
}

/** The cached sessions a scrape reports: how many are valid, and the lowest remaining lifetime (NaN when none). */
interface SessionLifetimes {
  count: number;
  lowestRemainingSeconds: number;
}

export function createMetrics(registry: Registry, version: string, options: { defaultMetrics?: boolean } = {}): Metrics {
  const registers = [registry];
  // The counters the request path updates take increments held in plain numbers (deferred.ts).
  const deferred = new DeferredCounts();
  let sessionLifetimes: (() => SessionLifetimes) | undefined;
  const metrics: Metrics = {
    registry,
    handle: (counter, labels) => deferred.handle(counter, labels),
    readSessionsFrom(source) {
      sessionLifetimes = source;
    },
    requests: deferred.counter({
      name: 'corridor_requests_total',
      help: 'Metadata requests answered, by route and HTTP status code.',
      labelNames: ['route', 'code'],
      registers,
    }),
    requestDuration: new FastHistogram({
      name: 'corridor_request_duration_seconds',
      help: 'Time to answer a metadata request, by route.',
      labelNames: ['route'],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers,
    }),
    stsCalls: new Counter({
      name: 'corridor_sts_calls_total',
      help: 'AssumeRole calls made to STS, by result.',
      labelNames: ['result'],
      registers,
    }),
    stsCallDuration: new Histogram({
      name: 'corridor_sts_call_duration_seconds',
      help: 'Duration of AssumeRole calls to STS.',
      buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    }),
    credentialCache: deferred.counter({
      name: 'corridor_credential_cache_total',
      help: 'Credential lookups: hit (served from cache), miss (started an STS call), coalesced (joined one in flight).',
      labelNames: ['result'],
      registers,
    }),
    sessions: new Gauge({
      name: 'corridor_sessions',
      help: 'STS sessions currently cached.',
      registers,
      collect() {
        if (sessionLifetimes) this.set(sessionLifetimes().count);
      },
    }),
    sessionMinRemaining: new Gauge({
      name: 'corridor_session_min_remaining_seconds',
      help: 'Lowest remaining lifetime, in seconds, of any cached session (what a pod could be served now).',
      registers,
      collect() {
        if (sessionLifetimes) this.set(sessionLifetimes().lowestRemainingSeconds);
      },
    }),
    decisions: deferred.counter({
      name: 'corridor_decisions_total',
      help: 'Role decisions made for credential requests, by outcome and reason.',
      labelNames: ['outcome', 'reason'],
      registers,
    }),
    watchRestarts: new Counter({
      name: 'corridor_watch_restarts_total',
      help: 'Kubernetes watches restarted after an error, close or 410 Gone.',
      labelNames: ['resource'],
      registers,
    }),
    kubeThrottled: new Counter({
      name: 'corridor_kube_throttled_total',
      help:
        'Lists and watches the Kubernetes API server turned away with 429 (API Priority and Fairness), or 503 with Retry-After; ' +
        'the agent waits at least the Retry-After, jittered, before the next attempt.',
      labelNames: ['resource'],
      registers,
    }),
    connectionsRefused: new Counter({
      name: 'corridor_connections_refused_total',
      help:
        'Connections the metadata (server="imds") or admin (server="admin") port closed as they arrived: ' +
        'a caller, its pool or the node over its connection budget, or too many callers.',
      labelNames: ['server', 'reason'],
      registers,
    }),
    nodeImdsPosture: new Gauge({
      name: 'corridor_node_imds_posture',
      help:
        'How the node\'s own metadata service answered a GET without a token at start-up: 1 for what was seen ' +
        '(imdsv1-allowed: a pod reaches the node\'s role whenever corridor\'s rules are missing; imdsv2-required; unknown).',
      labelNames: ['posture'],
      registers,
    }),
    sharedBridges: new Gauge({
      name: 'corridor_pod_network_shared_bridges',
      help: 'Bridges on this node with pods\' veths as ports (0 on routed CNIs). Above 0, a pod with CAP_NET_RAW can forge another pod\'s source address.',
      registers,
    }),
    pods: new Gauge({
      name: 'corridor_pods',
      help: 'Pods with an IP indexed on this node.',
      registers,
    }),
    ready: new Gauge({
      name: 'corridor_ready',
      help: '1 once the first list of pods and namespaces is in, else 0.',
      registers,
    }),
    buildInfo: new Gauge({
      name: 'corridor_build_info',
      help: 'Always 1; the version label says which corridor is running.',
      labelNames: ['version'],
      registers,
    }),
  };
  metrics.buildInfo.labels(version).set(1);
  metrics.ready.set(0);
  if (options.defaultMetrics !== false) collectDefaultMetrics({ register: registry });
  return metrics;
}
