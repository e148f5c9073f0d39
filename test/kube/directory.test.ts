import { Registry, type Gauge } from 'prom-client';
import t, { type Test } from 'tap';
import { createHttpTransport } from '../../src/kube/api/http-transport.js';
import { createPodDirectory, type PodInfo, type PodLookup, type RunningPodDirectory } from '../../src/kube/index.js';
import { createLogger } from '../../src/log/index.js';
import { createMetrics, type Metrics } from '../../src/metrics/index.js';
import { systemClock, systemScheduler, type Clock, type Scheduler } from '../../src/time/index.js';
import {
  fakeKubeApi,
  makeNamespace,
  makePod,
  makeServiceAccount,
  within,
  type FakeKubeApi,
  type FakeRequest,
  type KubeObject,
} from '../helpers/fake-kube-api.js';
import { FakeTime } from '../helpers/fake-time.js';

const ROLE = 'iam.amazonaws.com/role';
/** Generous: a missed event fails in seconds instead of at the suite timeout. */
const WAIT_MS = 5000;

interface Harness {
  api: FakeKubeApi;
  directory: RunningPodDirectory;
  metrics: Metrics;
  logs: Array<Record<string, unknown>>;
  changes: PodInfo[][];
  requests: FakeRequest[];
  /** Resolves at the first pod change after which `check` holds (or at once if it already does). */
  until(check: () => boolean, what: string): Promise<void>;
  /** Resolves with the pods of the next onChange call. */
  nextChange(what: string): Promise<readonly PodInfo[]>;
  /** Ready, and the first pod and namespace watches are open on the server (so faults hit open streams). */
  watching(): Promise<void>;
}

interface SetupOptions {
  objects?: KubeObject[];
  watchServiceAccounts?: boolean;
  scheduler?: Scheduler;
  clock?: Clock;
  start?: boolean;
  requestTimeoutMs?: number;
  startJitterMs?: number;
  random?: () => number;
  annotationKeys?: string[];
  before?: (api: FakeKubeApi) => void;
}

async function setup(t: Test, options: SetupOptions = {}): Promise<Harness> {
  const api = await fakeKubeApi(t, { objects: options.objects ?? [] });
  options.before?.(api);
  const requests: FakeRequest[] = [];
  api.on('request', (request: FakeRequest) => requests.push(request));
  const metrics = createMetrics(new Registry(), 'test', { defaultMetrics: false });
  const logs: Array<Record<string, unknown>> = [];
  const logger = createLogger('debug', { write: (line: string) => { logs.push(JSON.parse(line)); } });
  // The agent's own transport, over real HTTP to the stand-in.
  const transport = createHttpTransport(api.connection(), { requestTimeoutMs: options.requestTimeoutMs });
  const directory = createPodDirectory({
    transport,
    nodeName: 'node-a',
    watchServiceAccounts: options.watchServiceAccounts ?? false,
    ...(options.annotationKeys ? { annotationKeys: options.annotationKeys } : {}),
    scheduler: options.scheduler ?? systemScheduler,
    clock: options.clock ?? systemClock,
    metrics,
    logger,
    backoff: { initialMs: 10, maxMs: 50 },
    requestTimeoutMs: options.requestTimeoutMs,
    startJitterMs: options.startJitterMs,
    random: options.random,
  });
  t.teardown(() => {
    directory.stop();
    transport.close?.();
  });

  const changes: PodInfo[][] = [];
  const pending = new Set<(pods: readonly PodInfo[]) => void>();
  directory.onChange((pods) => {
    changes.push([...pods]);
    for (const listener of [...pending]) listener(pods);
  });
  const until = (check: () => boolean, what: string) =>
    within(
      new Promise<void>((resolve) => {
        if (check()) return resolve();
        const listener = () => {
          if (!check()) return;
          pending.delete(listener);
          resolve();
        };
        pending.add(listener);
      }),
      WAIT_MS,
      what,
    );
  const nextChange = (what: string) =>
    within(
      new Promise<readonly PodInfo[]>((resolve) => {
        const listener = (pods: readonly PodInfo[]) => {
          pending.delete(listener);
          resolve(pods);
        };
        pending.add(listener);
      }),
      WAIT_MS,
      what,
    );
  // Registered before start, so the first watch requests cannot be missed.
  const firstWatches = Promise.all([api.nextRequest('watch', 'pods'), api.nextRequest('watch', 'namespaces')]);
  const watching = async () => {
    await within(directory.whenReady(), WAIT_MS, 'ready');
    await within(firstWatches, WAIT_MS, 'the first watches');
  };
  if (options.start !== false) directory.start();
  return { api, directory, metrics, logs, changes, requests, until, nextChange, watching };
}

function owner(lookup: PodLookup): string {
  if (lookup.kind === 'found') return lookup.pod.name;
  if (lookup.kind === 'ambiguous') return `ambiguous(${lookup.pods.map((p) => p.name).sort().join(',')})`;
  return 'unknown';
}

async function gauge(metric: Gauge): Promise<number> {
  return (await metric.get()).values[0]?.value ?? NaN;
}

async function restarts(metrics: Metrics, resource: string): Promise<number> {
  return (await metrics.watchRestarts.get()).values.find((v) => v.labels.resource === resource)?.value ?? 0;
}

const baseObjects = () => [
  makeNamespace('gha', { [ROLE]: 'gha-default' }),
  makeNamespace('other'),
  makePod({ name: 'web', namespace: 'gha', ip: '10.0.0.1' }),
  makePod({ name: 'elsewhere', namespace: 'gha', ip: '10.0.0.2', nodeName: 'node-b' }),
];

t.test('the first list of pods and namespaces makes the directory ready with only this node\'s pods', async (t) => {
  const h = await setup(t, { objects: baseObjects() });
  t.notOk(h.directory.isReady(), 'not ready before any list has answered');
  await within(h.directory.whenReady(), WAIT_MS, 'ready');
  t.ok(h.directory.isReady());
  t.equal(owner(h.directory.byIp('10.0.0.1')), 'web');
  t.equal(owner(h.directory.byIp('10.0.0.2')), 'unknown', 'a pod on node-b is not ours');
  t.same(h.directory.namespace('gha')?.annotations, { [ROLE]: 'gha-default' });
  t.equal(h.directory.namespace('missing'), undefined);
  t.equal(await gauge(h.metrics.ready), 1);
  t.equal(await gauge(h.metrics.pods), 1);
  const podList = h.requests.find((r) => r.verb === 'list' && r.resource === 'pods');
  t.equal(podList?.query.get('fieldSelector'), 'spec.nodeName=node-a', 'pods are listed with the node field selector');
  t.equal(h.api.requests.list.serviceaccounts, 0, 'ServiceAccounts are not listed unless enabled');
  t.ok(h.logs.some((l) => l.component === 'kube' && l.msg === 'kubernetes caches synced'));
  t.same(h.changes.map((c) => c.map((p) => p.name)), [['web']], 'listeners hear every pod once, when ready, not per half-loaded list');
});

t.test('ADDED, MODIFIED and DELETED pod events keep the index current', async (t) => {
  const h = await setup(t, { objects: baseObjects() });
  await within(h.directory.whenReady(), WAIT_MS, 'ready');

  h.api.upsert(makePod({ name: 'api', namespace: 'gha', ip: '10.0.0.3' }));
  await h.until(() => owner(h.directory.byIp('10.0.0.3')) === 'api', 'ADDED pod');
  t.same(h.changes.at(-1)?.map((p) => p.name), ['api'], 'listeners hear about the new pod');

  h.api.modifyPod('gha', 'api', (pod) => {
    pod.metadata.annotations = { [ROLE]: 'reader' };
  });
  await h.until(() => {
    const lookup = h.directory.byIp('10.0.0.3');
    return lookup.kind === 'found' && lookup.pod.annotations[ROLE] === 'reader';
  }, 'MODIFIED annotation');
  t.same(h.changes.at(-1)?.map((p) => p.annotations[ROLE]), ['reader']);

  h.api.deletePod('gha', 'api');
  await h.until(() => h.directory.byIp('10.0.0.3').kind === 'unknown', 'DELETED pod');
  t.same(h.directory.pods().map((p) => p.name), ['web']);
  t.equal(await gauge(h.metrics.pods), 1);
});

t.test('status-only churn on a pod does not notify listeners', async (t) => {
  const h = await setup(t, { objects: baseObjects() });
  await within(h.directory.whenReady(), WAIT_MS, 'ready');
  const seen = h.changes.length;
  h.api.modifyPod('gha', 'web', (pod) => {
    (pod.status as Record<string, unknown>).conditions = [{ type: 'Ready', status: 'True' }];
  });
  h.api.upsert(makePod({ name: 'marker', namespace: 'gha', ip: '10.0.0.9' }));
  await h.until(() => h.directory.byIp('10.0.0.9').kind === 'found', 'marker pod');
  t.same(h.changes.slice(seen).map((c) => c.map((p) => p.name)), [['marker']], 'only the marker, delivered after the churn, was announced');
});

t.test('pods bound to other nodes never appear, even when added while watching', async (t) => {
  const h = await setup(t, { objects: baseObjects() });
  await within(h.directory.whenReady(), WAIT_MS, 'ready');
  h.api.upsert(makePod({ name: 'stranger', namespace: 'gha', ip: '10.0.0.20', nodeName: 'node-b' }));
  h.api.upsert(makePod({ name: 'local', namespace: 'gha', ip: '10.0.0.21' }));
  // Events arrive in order on one stream: once `local` is in, `stranger` would have been too.
  await h.until(() => h.directory.byIp('10.0.0.21').kind === 'found', 'local pod');
  t.equal(h.directory.byIp('10.0.0.20').kind, 'unknown');
  t.notOk(h.changes.flat().some((p) => p.name === 'stranger' || p.name === 'elsewhere'));
  const podWatch = h.requests.find((r) => r.verb === 'watch' && r.resource === 'pods');
  t.equal(podWatch?.query.get('fieldSelector'), 'spec.nodeName=node-a');
});

t.test('a closed watch restarts from its resourceVersion and delivers what changed meanwhile', async (t) => {
  const h = await setup(t, { objects: baseObjects() });
  await h.watching();
  const rewatch = h.api.nextRequest('watch', 'pods');
  h.api.closeWatches();
  // No watch is open now: these land in the history the restarted watch replays.
  h.api.upsert(makePod({ name: 'during-gap', namespace: 'gha', ip: '10.0.0.30' }));
  h.api.deletePod('gha', 'web');
  const request = await within(rewatch, WAIT_MS, 'the pod watch to reopen');
  t.not(request.query.get('resourceVersion'), '0', 'resumes from a real resourceVersion');
  await h.until(
    () => h.directory.byIp('10.0.0.30').kind === 'found' && h.directory.byIp('10.0.0.1').kind === 'unknown',
    'changes made during the gap',
  );
  t.equal(h.api.requests.list.pods, 1, 'no relist was needed');
  t.ok((await restarts(h.metrics, 'pods')) >= 1, 'corridor_watch_restarts_total{resource="pods"} counted');
});

for (const as of ['event', 'http'] as const) {
  t.test(`410 Gone (${as === 'event' ? 'ERROR event' : 'HTTP status'}) relists: nothing lost, nothing duplicated, pods deleted meanwhile gone`, async (t) => {
    const h = await setup(t, {
      objects: [
        ...baseObjects(),
        makePod({ name: 'doomed', namespace: 'gha', ip: '10.0.0.40' }),
        makePod({ name: 'kept', namespace: 'gha', ip: '10.0.0.41' }),
      ],
    });
    await within(h.directory.whenReady(), WAIT_MS, 'ready');
    h.api.setDown(true);
    h.api.deletePod('gha', 'doomed');
    h.api.upsert(makePod({ name: 'born', namespace: 'gha', ip: '10.0.0.42' }));
    h.api.modifyPod('gha', 'kept', (pod) => {
      pod.metadata.annotations = { [ROLE]: 'changed' };
    });
    h.api.expireHistory({ as });
    const relist = h.api.nextRequest('list', 'pods');
    h.api.setDown(false);
    const request = await within(relist, WAIT_MS, 'the relist');
    const resumedFrom = h.requests.filter((r) => r.verb === 'watch' && r.resource === 'pods').at(-1)?.query.get('resourceVersion');
    t.ok(resumedFrom, 'the expired watch asked for a resourceVersion');
    t.equal(request.query.get('resourceVersion'), resumedFrom, 'the relist asks for state not older than what the agent holds: the watch cache serves it, never back in time');
    t.equal(request.query.get('limit'), null, 'unpaginated: a limit with a resourceVersion sends the list to etcd on older API servers');
    await h.until(
      () => h.directory.byIp('10.0.0.42').kind === 'found' && h.directory.byIp('10.0.0.40').kind === 'unknown',
      'the relisted state',
    );
    t.same(h.directory.pods().map((p) => p.name).sort(), ['born', 'kept', 'web'], 'each pod exactly once');
    const kept = h.directory.byIp('10.0.0.41');
    t.equal(kept.kind === 'found' ? kept.pod.annotations[ROLE] : undefined, 'changed');
    t.equal(await gauge(h.metrics.pods), 3);
    t.ok(h.logs.some((l) => l.level === 'warn' && String(l.reason).startsWith('resourceVersion expired')));
  });
}

t.test('an ERROR 410 on an open watch relists without waiting for the stream to close', async (t) => {
  const h = await setup(t, { objects: baseObjects() });
  await h.watching();
  const relist = h.api.nextRequest('list', 'pods');
  h.api.expireHistory({ evictOpenWatches: true });
  h.api.upsert(makePod({ name: 'after', namespace: 'gha', ip: '10.0.0.50' }));
  await within(relist, WAIT_MS, 'the relist');
  await h.until(() => h.directory.byIp('10.0.0.50').kind === 'found', 'pod added after the expiry');
  t.equal(h.api.requests.list.pods, 2);
  t.same(h.directory.pods().map((p) => p.name).sort(), ['after', 'web']);
});

for (const mode of ['unavailable', 'reset'] as const) {
  t.test(`with the API server down at start (${mode}) the directory is not ready, does not crash, and becomes ready when it returns`, async (t) => {
    const h = await setup(t, { objects: baseObjects(), before: (api) => api.setDown(true, mode) });
    await within(h.api.nextRequest('list', 'pods'), WAIT_MS, 'a retried list');
    await within(h.api.nextRequest('list', 'pods'), WAIT_MS, 'another retried list');
    t.notOk(h.directory.isReady());
    t.equal(await gauge(h.metrics.ready), 0);
    t.equal(h.directory.byIp('10.0.0.1').kind, 'unknown');
    t.ok(h.logs.some((l) => l.level === 'warn' && l.component === 'kube' && l.reason === 'list failed'), 'failures are logged');
    h.api.setDown(false);
    await within(h.directory.whenReady(), WAIT_MS, 'ready after recovery');
    t.equal(owner(h.directory.byIp('10.0.0.1')), 'web');
    t.equal(await gauge(h.metrics.ready), 1);
  });
}

t.test('losing the API server mid-run keeps serving the cache, and changes flow again after it returns', async (t) => {
  const h = await setup(t, { objects: baseObjects() });
  await h.watching();
  h.api.setDown(true, 'reset');
  await within(h.api.nextRequest('watch', 'pods'), WAIT_MS, 'a failed reconnect');
  await within(h.api.nextRequest('watch', 'pods'), WAIT_MS, 'another failed reconnect');
  t.ok(h.directory.isReady(), 'still ready');
  t.equal(owner(h.directory.byIp('10.0.0.1')), 'web', 'cached pod still answers');
  t.equal(h.directory.namespace('gha')?.annotations[ROLE], 'gha-default', 'cached namespace still answers');
  t.ok((await restarts(h.metrics, 'pods')) >= 2);
  h.api.setDown(false);
  h.api.upsert(makePod({ name: 'back', namespace: 'gha', ip: '10.0.0.60' }));
  await h.until(() => h.directory.byIp('10.0.0.60').kind === 'found', 'a pod added after recovery');
  t.equal(owner(h.directory.byIp('10.0.0.1')), 'web');
});

t.test('a list the server leaves silent for the request timeout is abandoned and retried', async (t) => {
  const h = await setup(t, { objects: baseObjects(), requestTimeoutMs: 200, before: (api) => { api.listDelayMs = 60_000; } });
  await within(h.api.nextRequest('list', 'pods'), WAIT_MS, 'first list');
  h.api.listDelayMs = 0;
  // Ready well before the 60 s answer: the first list must have been given up on.
  await within(h.directory.whenReady(), WAIT_MS, 'ready from a retried list');
  t.ok(h.api.requests.list.pods >= 2);
});

t.test('waitForIp resolves as soon as the pod\'s watch event arrives', async (t) => {
  const h = await setup(t, { objects: baseObjects() });
  await within(h.directory.whenReady(), WAIT_MS, 'ready');
  const waiting = h.directory.waitForIp('10.0.0.70', 60_000);
  h.api.upsert(makePod({ name: 'late', namespace: 'gha', ip: '10.0.0.70' }));
  const lookup = await within(waiting, WAIT_MS, 'waitForIp');
  t.equal(owner(lookup), 'late');
});

t.test('waitForIp answers unknown at its timeout when no pod appears', async (t) => {
  const time = new FakeTime();
  const h = await setup(t, { objects: baseObjects(), scheduler: time, clock: time });
  await within(h.directory.whenReady(), WAIT_MS, 'ready');
  let settled: PodLookup | undefined;
  void h.directory.waitForIp('10.0.0.80', 1000).then((lookup) => { settled = lookup; });
  await time.advance(999);
  t.equal(settled, undefined, 'still waiting just before the timeout');
  await time.advance(1);
  t.same(settled, { kind: 'unknown' });
});

t.test('stop answers pending waitForIp calls at once', async (t) => {
  const h = await setup(t, { objects: baseObjects() });
  await within(h.directory.whenReady(), WAIT_MS, 'ready');
  const waiting = h.directory.waitForIp('10.0.0.90', 60_000);
  h.directory.stop();
  t.same(await within(waiting, WAIT_MS, 'released waiter'), { kind: 'unknown' });
});

t.test('a namespace annotation change notifies listeners with exactly that namespace\'s pods', async (t) => {
  const h = await setup(t, {
    objects: [
      ...baseObjects(),
      makePod({ name: 'web-2', namespace: 'gha', ip: '10.0.0.11' }),
      makePod({ name: 'other-pod', namespace: 'other', ip: '10.0.0.12' }),
    ],
  });
  await within(h.directory.whenReady(), WAIT_MS, 'ready');
  const labelOnly = h.nextChange('change after a label-only edit');
  h.api.modify('namespaces', { name: 'other' }, (ns) => {
    ns.metadata.labels = { team: 'x' };
  });
  h.api.annotateNamespace('gha', { [ROLE]: 'new-default' });
  const pods = await labelOnly;
  t.same(pods.map((p) => p.name).sort(), ['web', 'web-2'], 'the label-only edit of `other` did not notify; the gha one did');
  t.equal(h.directory.namespace('gha')?.annotations[ROLE], 'new-default');
});

t.test('ServiceAccount changes notify the pods that use that ServiceAccount', async (t) => {
  const h = await setup(t, {
    watchServiceAccounts: true,
    objects: [
      ...baseObjects(),
      makeServiceAccount('gha', 'builder', { 'eks.amazonaws.com/role-arn': 'arn:aws:iam::123456789012:role/builder' }),
      makePod({ name: 'build', namespace: 'gha', ip: '10.0.0.13', serviceAccountName: 'builder' }),
    ],
  });
  await within(h.directory.whenReady(), WAIT_MS, 'ready');
  t.equal(h.api.requests.list.serviceaccounts, 1, 'ServiceAccounts are listed when enabled');
  t.equal(h.directory.serviceAccount('gha', 'builder')?.annotations['eks.amazonaws.com/role-arn'], 'arn:aws:iam::123456789012:role/builder');
  const change = h.nextChange('ServiceAccount change');
  h.api.modify('serviceaccounts', { namespace: 'gha', name: 'builder' }, (sa) => {
    sa.metadata.annotations = { 'eks.amazonaws.com/role-arn': 'arn:aws:iam::123456789012:role/other' };
  });
  t.same((await change).map((p) => p.name), ['build']);
});

t.test('with annotationKeys, namespaces and ServiceAccounts keep only those annotations, and only their changes notify', async (t) => {
  const SA_ROLE = 'eks.amazonaws.com/role-arn';
  const LAST_APPLIED = 'kubectl.kubernetes.io/last-applied-configuration';
  const h = await setup(t, {
    watchServiceAccounts: true,
    annotationKeys: [ROLE, SA_ROLE],
    objects: [
      makeNamespace('gha', { [ROLE]: 'gha-default', [LAST_APPLIED]: '{"kind":"Namespace"}' }),
      makeNamespace('other', { [LAST_APPLIED]: '{}' }),
      makeNamespace('bare'),
      makeServiceAccount('gha', 'builder', { [SA_ROLE]: 'arn:aws:iam::123456789012:role/builder', [LAST_APPLIED]: '{}' }),
      makePod({ name: 'web', namespace: 'gha', ip: '10.0.0.1', serviceAccountName: 'builder' }),
      makePod({ name: 'other-pod', namespace: 'other', ip: '10.0.0.12' }),
    ],
  });
  await within(h.directory.whenReady(), WAIT_MS, 'ready');
  t.same(h.directory.namespace('gha'), { name: 'gha', annotations: { [ROLE]: 'gha-default' } });
  t.same(h.directory.namespace('other'), { name: 'other', annotations: {} });
  t.equal(h.directory.namespace('other')?.annotations, h.directory.namespace('bare')?.annotations, 'namespaces without kept annotations share one object');
  t.same(h.directory.serviceAccount('gha', 'builder')?.annotations, { [SA_ROLE]: 'arn:aws:iam::123456789012:role/builder' });

  const next = h.nextChange('change after a kept annotation changed');
  h.api.annotateNamespace('other', { [LAST_APPLIED]: '{"changed":true}' });
  h.api.annotateNamespace('gha', { [ROLE]: 'new-default', [LAST_APPLIED]: '{"kind":"Namespace"}' });
  t.same((await next).map((p) => p.name), ['web'], 'a change to an annotation nobody reads notified nobody; the role change did');
  t.same(h.directory.namespace('gha')?.annotations, { [ROLE]: 'new-default' });
});

t.test('readiness waits for ServiceAccounts when they are watched', async (t) => {
  const h = await setup(t, {
    watchServiceAccounts: true,
    objects: baseObjects(),
    before: (api) => api.setDown(true, 'unavailable', ['serviceaccounts']),
  });
  // A watch opens only after its list was stored: pods and namespaces are in.
  await within(Promise.all([h.api.nextRequest('watch', 'pods'), h.api.nextRequest('watch', 'namespaces')]), WAIT_MS, 'pod and namespace watches');
  await within(h.api.nextRequest('list', 'serviceaccounts'), WAIT_MS, 'a retried ServiceAccount list');
  t.notOk(h.directory.isReady(), 'not ready without the ServiceAccount list');
  h.api.setDown(false);
  await within(h.directory.whenReady(), WAIT_MS, 'ready');
});

t.test('IP ownership rules hold for pods arriving by list and by watch', async (t) => {
  const h = await setup(t, {
    objects: [
      ...baseObjects(),
      makePod({ name: 'old', namespace: 'gha', ip: '10.0.0.100', deletionTimestamp: true }),
      makePod({ name: 'new', namespace: 'gha', ip: '10.0.0.100' }),
      makePod({ name: 'host-agent', namespace: 'gha', ip: '192.168.1.10', hostNetwork: true }),
      makePod({ name: 'finished', namespace: 'gha', ip: '10.0.0.101', phase: 'Succeeded' }),
    ],
  });
  await within(h.directory.whenReady(), WAIT_MS, 'ready');
  t.equal(owner(h.directory.byIp('10.0.0.100')), 'new', 'terminating pod from the list yields to the new one');
  t.equal(owner(h.directory.byIp('192.168.1.10')), 'unknown', 'hostNetwork pod skipped');
  t.equal(owner(h.directory.byIp('10.0.0.101')), 'unknown', 'finished pod owns nothing');

  h.api.modifyPod('gha', 'new', (pod) => {
    pod.metadata.deletionTimestamp = '2026-01-01T00:00:10Z';
  });
  await h.until(() => h.directory.byIp('10.0.0.100').kind === 'ambiguous', 'both terminating');
  t.equal(owner(h.directory.byIp('10.0.0.100')), 'ambiguous(new,old)');
  h.api.upsert(makePod({ name: 'reuse', namespace: 'gha', ip: '10.0.0.101' }));
  await h.until(() => owner(h.directory.byIp('10.0.0.101')) === 'reuse', 'IP reused after a finished pod');
});

t.test('a listener that throws is logged and does not stop other listeners or the watch', async (t) => {
  const h = await setup(t, { objects: baseObjects() });
  h.directory.onChange(() => {
    throw new Error('listener bug');
  });
  const heardAfter: string[] = [];
  h.directory.onChange((pods) => heardAfter.push(...pods.map((p) => p.name)));
  await within(h.directory.whenReady(), WAIT_MS, 'ready');
  h.api.upsert(makePod({ name: 'x', namespace: 'gha', ip: '10.0.0.110' }));
  await h.until(() => h.directory.byIp('10.0.0.110').kind === 'found', 'pod x');
  h.api.upsert(makePod({ name: 'y', namespace: 'gha', ip: '10.0.0.111' }));
  await h.until(() => h.directory.byIp('10.0.0.111').kind === 'found', 'pod y');
  t.ok(heardAfter.includes('x') && heardAfter.includes('y'), 'a listener registered after the throwing one still hears every change');
  t.ok(h.logs.some((l) => l.level === 'error' && l.msg === 'a pod change listener threw'));
});

t.test('a pod is announced when it is scheduled, without an IP, and again when it gets one; it owns no IP until then', async (t) => {
  const h = await setup(t, { objects: baseObjects() });
  await within(h.directory.whenReady(), WAIT_MS, 'ready');
  h.api.upsert(makePod({ name: 'starting', namespace: 'gha', phase: 'Pending' }));
  await h.until(() => h.directory.pods().some((p) => p.name === 'starting'), 'the scheduled pod');
  t.same(h.changes.at(-1)?.map((p) => [p.name, p.ip]), [['starting', undefined]], 'listeners hear of it before it has an IP');
  t.equal(await gauge(h.metrics.pods), 1, 'corridor_pods counts pods with an IP only');

  h.api.modifyPod('gha', 'starting', (pod) => {
    pod.status = { ...pod.status, phase: 'Running', podIP: '10.0.0.120', podIPs: [{ ip: '10.0.0.120' }] };
  });
  await h.until(() => owner(h.directory.byIp('10.0.0.120')) === 'starting', 'the IP event');
  t.same(h.changes.at(-1)?.map((p) => [p.name, p.ip]), [['starting', '10.0.0.120']], 'and again when the CNI gives it its IP');
  t.equal(await gauge(h.metrics.pods), 2);
});

t.test('an IP-less pod is in pods() from the first list, hostNetwork and finished ones never are, and its deletion is heard', async (t) => {
  const h = await setup(t, {
    objects: [
      ...baseObjects(),
      makePod({ name: 'pending', namespace: 'gha', phase: 'Pending' }),
      makePod({ name: 'host', namespace: 'gha', hostNetwork: true, phase: 'Pending' }),
      makePod({ name: 'done', namespace: 'gha', phase: 'Succeeded' }),
      makePod({ name: 'pending-elsewhere', namespace: 'gha', phase: 'Pending', nodeName: 'node-b' }),
    ],
  });
  await h.watching();
  t.same(h.directory.pods().map((p) => p.name).sort(), ['pending', 'web']);
  t.same(h.changes.map((c) => c.map((p) => p.name).sort()), [['pending', 'web']], 'announced with the rest when ready');
  const heard = h.nextChange('the deletion of the IP-less pod');
  h.api.deletePod('gha', 'pending');
  t.same(await heard, [], 'listeners are called (so unused sessions can be dropped), with no pods');
  t.same(h.directory.pods().map((p) => p.name), ['web']);
});

t.test('the first lists wait a random share of the start jitter, so agents started together spread their lists', async (t) => {
  const time = new FakeTime();
  const h = await setup(t, { objects: baseObjects(), scheduler: time, clock: time, startJitterMs: 400, random: () => 0.5, start: false });
  const listed = h.api.nextRequest('list', 'pods');
  h.directory.start();
  await time.advance(199);
  t.same(h.requests, [], 'nothing asked before 0.5 of 400 ms');
  await time.advance(1);
  await within(listed, WAIT_MS, 'the first list, at 200 ms');
});

t.test('stop during the start jitter leaves nothing behind: no list, no timer', async (t) => {
  const time = new FakeTime();
  const h = await setup(t, { objects: baseObjects(), scheduler: time, clock: time, startJitterMs: 400, random: () => 0.5, start: false });
  h.directory.start();
  h.directory.stop();
  t.equal(time.pendingTimers, 0);
  await time.advance(1000);
  t.same(h.requests, []);
});
