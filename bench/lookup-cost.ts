import { Registry } from 'prom-client';
import { createCallerResolver } from '../src/caller/index.js';
import { parseAgentConfig } from '../src/config/index.js';
import { createSessionCache, type SessionKey } from '../src/credentials/index.js';
import { parseNamespace, parsePod, PodIndex, type NamespaceInfo, type PodDirectory, type PodInfo } from '../src/kube/index.js';
import { createLogger, createLogThrottle } from '../src/log/index.js';
import { createMetrics } from '../src/metrics/index.js';
import { decideRole } from '../src/policy/index.js';
import { systemClock, systemScheduler, type Scheduler } from '../src/time/index.js';
import { agentArgs, NODE, scaleObjects, type ScaleShape } from './cluster.js';

export interface LookupCostResult {
  /** resolver.known(ip) + resolver.auditDecision(): what the metadata path does per request (pod by IP, cached decision, decision metric). */
  lookupNs: number;
  /** decideRole from scratch: what a pod or namespace change costs (namespace policy parse cached per annotations object). */
  decideNs: number;
  /** sessionCache.peek(key) on a warm cache. */
  peekNs: number;
}

const noTimers: Scheduler = { schedule: () => ({ cancel: () => undefined }) };

/**
 * Per-request cost of the in-memory state with a big cluster loaded: the same PodIndex,
 * namespace records and resolver the agent uses, called in a tight loop over every pod.
 */
export async function measureLookupCost(shape: ScaleShape): Promise<LookupCostResult> {
  const parsed = parseAgentConfig([...agentArgs('/dev/null', 'http://127.0.0.1:9')], {});
  if (!parsed.ok) throw new Error(parsed.errors.join('; '));
  const config = parsed.config;
  const { objects } = scaleObjects(shape);
  const index = new PodIndex();
  const namespaces = new Map<string, NamespaceInfo>();
  for (const object of objects) {
    if (object.kind === 'Namespace') {
      const ns = parseNamespace(object);
      namespaces.set(ns.name, ns);
    } else {
      const pod = parsePod({ ...object, metadata: { ...object.metadata, uid: `${object.metadata.namespace}/${object.metadata.name}` } });
      if (pod.nodeName === NODE) index.upsert(pod);
    }
  }
  const directory: PodDirectory = {
    byIp: (ip) => index.byIp(ip),
    waitForIp: async (ip) => index.byIp(ip),
    namespace: (name) => namespaces.get(name),
    serviceAccount: () => undefined,
    pods: () => index.pods(),
    onChange: () => undefined,
    isReady: () => true,
  };
  const metrics = createMetrics(new Registry(), 'bench', { defaultMetrics: false });
  const logger = createLogger('silent');
  const resolver = createCallerResolver({
    directory,
    policy: { annotations: config.annotations, baseRoleArn: config.baseRoleArn, serviceAccountRoles: false },
    podLookupTimeoutMs: 0,
    metrics,
    logger,
    strangerAudit: createLogThrottle({ logger, level: 'warn', scheduler: systemScheduler }),
  });
  const pods = index.pods() as PodInfo[];
  const ips = pods.map((pod) => pod.ip as string);

  const lookupNs = timeLoop(2_000_000, (i) => {
    const access = resolver.known(ips[i % ips.length]!)!;
    resolver.auditDecision(access);
    return access;
  });

  const policy = { annotations: config.annotations, baseRoleArn: config.baseRoleArn, serviceAccountRoles: false };
  const decideNs = timeLoop(500_000, (i) => {
    const pod = pods[i % pods.length]!;
    return decideRole({ pod, namespace: namespaces.get(pod.namespace), serviceAccount: undefined }, policy);
  });

  const cache = createSessionCache({
    assumer: { assume: async (request) => ({ accessKeyId: 'ASIA', secretAccessKey: 's', sessionToken: 't', expiration: Date.now() + 3_600_000, issuedAt: Date.now(), assumedRoleArn: request.roleArn }) },
    clock: systemClock,
    scheduler: noTimers,
    nodeName: NODE,
    sessionDurationMs: config.sessionDurationMs,
    refreshBeforeMs: config.refreshBeforeMs,
    minRemainingMs: config.minRemainingMs,
    sessionTags: false,
    metrics,
    logger,
  });
  const keys = pods.map((pod) => resolver.forPod(pod).sessionKey).filter((key): key is SessionKey => key !== undefined);
  await Promise.all(keys.map((key) => cache.get(key)));
  const peekNs = timeLoop(2_000_000, (i) => cache.peek(keys[i % keys.length]!));
  cache.close();
  return { lookupNs, decideNs, peekNs };
}

/** Nanoseconds per call, best of three runs after a warm-up run. */
function timeLoop(iterations: number, body: (i: number) => unknown): number {
  let sink: unknown;
  let best = Number.POSITIVE_INFINITY;
  for (let run = 0; run < 4; run++) {
    const start = process.hrtime.bigint();
    for (let i = 0; i < iterations; i++) sink = body(i);
    const ns = Number(process.hrtime.bigint() - start) / iterations;
    if (run > 0) best = Math.min(best, ns);
  }
  if (sink === Symbol.for('never')) throw new Error('unreachable');
  return best;
}
