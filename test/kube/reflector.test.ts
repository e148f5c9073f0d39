import { Registry } from 'prom-client';
import t, { type Test } from 'tap';
import { Reflector, type ReflectorStore } from '../../src/kube/reflector.js';
import type { ListWatch, ListRequest, ListResult, WatchHandlers, WatchRequest } from '../../src/kube/api/transport-types.js';
import { createLogger } from '../../src/log/index.js';
import { createMetrics, type Metrics } from '../../src/metrics/index.js';
import { FakeTime, settle } from '../helpers/fake-time.js';

/** A transport whose lists and watches the test answers by hand. */
class ScriptedTransport implements ListWatch {
  readonly lists: Array<{ request: ListRequest; resolve(result: ListResult): void; reject(error: unknown): void }> = [];
  readonly watches: Array<{ request: WatchRequest; handlers: WatchHandlers; aborted: boolean }> = [];

  list(_resource: string, request: ListRequest): Promise<ListResult> {
    return new Promise((resolve, reject) => this.lists.push({ request, resolve, reject }));
  }

  async watch(_resource: string, request: WatchRequest, handlers: WatchHandlers) {
    const entry = { request, handlers, aborted: false };
    this.watches.push(entry);
    return { abort: () => { entry.aborted = true; } };
  }

  lastList() {
    const last = this.lists.at(-1);
    if (!last) throw new Error('no list yet');
    return last;
  }

  lastWatch() {
    const last = this.watches.at(-1);
    if (!last) throw new Error('no watch yet');
    return last;
  }
}

class RecordingStore implements ReflectorStore {
  readonly calls: Array<[string, unknown]> = [];
  replace(objects: readonly unknown[]) { this.calls.push(['replace', objects]); }
  upsert(object: unknown) { this.calls.push(['upsert', object]); }
  remove(object: unknown) { this.calls.push(['remove', object]); }
}

const obj = (name: string, resourceVersion: string) => ({ metadata: { name, resourceVersion } });

async function restarts(metrics: Metrics): Promise<number> {
  const values = (await metrics.watchRestarts.get()).values;
  return values.find((v) => v.labels.resource === 'pods')?.value ?? 0;
}

function setup(t: Test) {
  const time = new FakeTime();
  const transport = new ScriptedTransport();
  const store = new RecordingStore();
  const metrics = createMetrics(new Registry(), 'test', { defaultMetrics: false });
  const logs: Array<Record<string, unknown>> = [];
  const logger = createLogger('debug', { write: (line: string) => { logs.push(JSON.parse(line)); } });
  let listed = 0;
  const reflector = new Reflector({
    resource: 'pods',
    fieldSelector: 'spec.nodeName=node-a',
    transport,
    store,
    scheduler: time,
    clock: time,
    metrics,
    logger,
    backoff: { initialMs: 100, maxMs: 1000 },
    requestTimeoutMs: 5000,
    watchTimeoutSeconds: 60,
    random: () => 0.999999,
    onListed: () => { listed++; },
  });
  t.teardown(() => reflector.stop());
  /** Starts the reflector and answers its first list (resourceVersion 10); resolves once the watch is open. */
  const startWatching = async (items: unknown[] = []) => {
    reflector.start();
    transport.lastList().resolve({ items, resourceVersion: '10' });
    await settle();
    return transport.lastWatch();
  };
  return { time, transport, store, metrics, logs, reflector, startWatching, listed: () => listed };
}

t.test('lists first from the watch cache, then watches from the list resourceVersion with the field selector', async (t) => {
  const { transport, store, reflector, listed } = setup(t);
  reflector.start();
  t.equal(transport.lists.length, 1);
  t.equal(transport.lastList().request.resourceVersion, '0', 'first list may be served from the watch cache');
  t.equal(transport.lastList().request.fieldSelector, 'spec.nodeName=node-a');
  transport.lastList().resolve({ items: [obj('a', '5')], resourceVersion: '10' });
  await settle();
  t.same(store.calls, [['replace', [obj('a', '5')]]]);
  t.equal(listed(), 1);
  t.ok(reflector.listed);
  t.equal(transport.watches.length, 1);
  t.equal(transport.lastWatch().request.resourceVersion, '10');
  t.equal(transport.lastWatch().request.fieldSelector, 'spec.nodeName=node-a');
  const timeout = transport.lastWatch().request.timeoutSeconds;
  t.ok(timeout >= 60 && timeout < 120, 'server-side watch timeout is jittered between 1x and 2x');
});

t.test('watch events reach the store and advance the resourceVersion a restarted watch resumes from', async (t) => {
  const { time, transport, store, metrics, startWatching } = setup(t);
  const { handlers } = await startWatching();
  handlers.event('ADDED', obj('a', '11'));
  handlers.event('MODIFIED', obj('a', '12'));
  handlers.event('DELETED', obj('a', '13'));
  handlers.event('BOOKMARK', { metadata: { resourceVersion: '20' } });
  t.same(store.calls.slice(1), [['upsert', obj('a', '11')], ['upsert', obj('a', '12')], ['remove', obj('a', '13')]]);
  handlers.done(null);
  t.equal(transport.watches.length, 1, 'no restart before the backoff delay');
  await time.advance(100);
  t.equal(transport.watches.length, 2, 'restarted after the backoff');
  t.equal(transport.lastWatch().request.resourceVersion, '20', 'resumes from the bookmark');
  t.equal(transport.lists.length, 1, 'a closed watch does not relist');
  t.equal(await restarts(metrics), 1);
});

t.test('consecutive failures back off exponentially up to the cap; a healthy watch resets it', async (t) => {
  const { time, transport, startWatching } = setup(t);
  await startWatching();
  // random is pinned near 1, so each delay is its ceiling.
  for (const expected of [100, 200, 400, 800, 1000, 1000]) {
    transport.lastWatch().handlers.done(Object.assign(new Error('Service Unavailable'), { statusCode: 503 }));
    const before = transport.watches.length;
    await time.advance(expected - 1);
    t.equal(transport.watches.length, before, `still waiting at ${expected - 1} ms`);
    await time.advance(1);
    t.equal(transport.watches.length, before + 1, `restarted at ${expected} ms`);
  }
  transport.lastWatch().handlers.event('ADDED', obj('b', '11'));
  transport.lastWatch().handlers.done(null);
  await time.advance(100);
  t.equal(transport.watches.length, 8, 'after a watch that delivered events the next retry waits the initial delay');
});

t.test('an ERROR event with code 410 relists from the last resourceVersion seen, unpaginated, and replaces the store', async (t) => {
  const { time, transport, store, metrics, startWatching } = setup(t);
  const first = await startWatching([obj('a', '5')]);
  first.handlers.event('ERROR', { kind: 'Status', code: 410, reason: 'Expired' });
  t.ok(first.aborted, 'the expired stream is closed at once');
  first.handlers.event('ADDED', obj('late', '99'));
  t.equal(store.calls.length, 1, 'events after the ERROR are ignored');
  await time.advance(100);
  t.equal(transport.lists.length, 2, 'relisted');
  const relist = transport.lastList().request;
  t.equal(relist.resourceVersion, '10', 'not older than what the store holds: never back in time, and from the watch cache');
  t.equal(relist.limit, undefined, 'unpaginated: older API servers send a paginated list with a resourceVersion to etcd');
  t.equal(relist.resourceVersionMatch, undefined);
  transport.lastList().resolve({ items: [obj('b', '30')], resourceVersion: '31' });
  await settle();
  t.same(store.calls.at(-1), ['replace', [obj('b', '30')]]);
  t.equal(transport.lastWatch().request.resourceVersion, '31');
  t.equal(await restarts(metrics), 1);
});

t.test('an HTTP 410 on the watch request relists too', async (t) => {
  const { time, transport, startWatching } = setup(t);
  await startWatching();
  transport.lastWatch().handlers.done(Object.assign(new Error('Gone'), { statusCode: 410 }));
  await time.advance(100);
  t.equal(transport.lists.length, 2);
});

t.test('other ERROR events restart the watch from the same resourceVersion without relisting', async (t) => {
  const { time, transport, logs, startWatching } = setup(t);
  await startWatching();
  transport.lastWatch().handlers.event('ERROR', { kind: 'Status', code: 500, message: 'etcd hiccup' });
  await time.advance(100);
  t.equal(transport.lists.length, 1);
  t.equal(transport.watches.length, 2);
  t.equal(transport.lastWatch().request.resourceVersion, '10');
  t.ok(logs.some((l) => l.level === 'warn' && l.reason === 'watch ERROR event' && l.error === 'etcd hiccup'));
});

t.test('an ERROR event without a message is logged with its fields, not as [object Object]', async (t) => {
  const { time, logs, startWatching } = setup(t);
  const { handlers } = await startWatching();
  handlers.event('ERROR', { kind: 'Status', code: 500, reason: 'InternalError' });
  await time.advance(100);
  const line = logs.find((l) => l.level === 'warn' && l.reason === 'watch ERROR event');
  t.match(line?.error, /kind: 'Status'.*reason: 'InternalError'/);
});

t.test('a failed list is retried with backoff, the store untouched and no crash', async (t) => {
  const { time, transport, store, reflector, logs, listed } = setup(t);
  reflector.start();
  transport.lastList().reject(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }));
  await settle();
  t.equal(store.calls.length, 0);
  t.notOk(reflector.listed);
  t.ok(logs.some((l) => l.level === 'warn' && l.reason === 'list failed' && l.error === 'connect ECONNREFUSED'));
  await time.advance(100);
  t.equal(transport.lists.length, 2);
  t.equal(transport.lastList().request.resourceVersion, '0', 'never listed yet, so the watch cache is still fine');
  transport.lastList().resolve({ items: [], resourceVersion: '3' });
  await settle();
  t.equal(listed(), 1);
});

t.test('a list still arriving after the request timeout is not cut off: its transport bounds silence, not size', async (t) => {
  const { time, transport, reflector, listed } = setup(t);
  reflector.start();
  const { signal } = transport.lastList().request;
  await time.advance(60_000);
  t.notOk(signal.aborted, 'a 34 MB list on a slow link takes as long as it takes');
  t.equal(transport.lists.length, 1);
  transport.lastList().resolve({ items: [], resourceVersion: '3' });
  await settle();
  t.equal(listed(), 1);
});

t.test('a failed list is retried after the backoff', async (t) => {
  const { time, transport, reflector } = setup(t);
  reflector.start();
  transport.lastList().reject(Object.assign(new Error('list pods: nothing received for 30000 ms'), { code: 'ETIMEDOUT' }));
  await time.advance(99);
  t.equal(transport.lists.length, 1, 'not before the backoff');
  await time.advance(1);
  t.equal(transport.lists.length, 2);
});

t.test('a watch that stays silent past its server-side timeout is treated as dead and restarted', async (t) => {
  const { time, transport, startWatching } = setup(t);
  const watch = await startWatching();
  await time.advance((watch.request.timeoutSeconds + 30) * 1000);
  t.ok(watch.aborted);
  await time.advance(100);
  t.equal(transport.watches.length, 2);
});

t.test('stop cancels the current watch and any pending retry', async (t) => {
  const { time, transport, reflector, startWatching } = setup(t);
  await startWatching();
  transport.lastWatch().handlers.done(null);
  reflector.stop();
  await time.advance(10_000);
  t.equal(transport.watches.length, 1, 'no restart after stop');
  t.equal(time.pendingTimers, 0, 'no timers left behind');
});

t.test('a store that throws does not stop the watch', async (t) => {
  const { transport, store, logs, startWatching } = setup(t);
  store.upsert = () => { throw new Error('bug'); };
  await startWatching();
  transport.lastWatch().handlers.event('ADDED', obj('a', '11'));
  transport.lastWatch().handlers.event('DELETED', obj('a', '12'));
  t.same(store.calls.at(-1), ['remove', obj('a', '12')]);
  t.ok(logs.some((l) => l.level === 'error'));
});

const gone = (message = 'Expired') => Object.assign(new Error(message), { statusCode: 410 });

t.test('a paginated list follows continue tokens, replaces the store once with every page, and watches from the first page\'s resourceVersion', async (t) => {
  const { transport, store, reflector, listed } = setup(t);
  reflector.start();
  t.match(transport.lastList().request, { resourceVersion: '0', limit: 500, continue: undefined }, 'the first page: from the watch cache, 500 at most');
  transport.lastList().resolve({ items: [obj('a', '5'), obj('b', '6')], resourceVersion: '40', continue: 'token-1' });
  await settle();
  t.equal(transport.lists.length, 2);
  t.match(transport.lastList().request, { continue: 'token-1', limit: 500, resourceVersion: undefined, resourceVersionMatch: undefined }, 'the token alone names the snapshot');
  t.same(store.calls, [], 'nothing replaced from half a list');
  t.equal(listed(), 0);
  transport.lastList().resolve({ items: [obj('c', '7')], resourceVersion: '40' });
  await settle();
  t.same(store.calls, [['replace', [obj('a', '5'), obj('b', '6'), obj('c', '7')]]]);
  t.equal(listed(), 1);
  t.equal(transport.lastWatch().request.resourceVersion, '40');
});

t.test('a continue token that expired mid-list (410) lists again from scratch in one unpaginated request', async (t) => {
  const { transport, store, reflector, logs } = setup(t);
  reflector.start();
  transport.lastList().resolve({ items: [obj('a', '5')], resourceVersion: '40', continue: 'token-1' });
  await settle();
  transport.lastList().reject(gone('The provided continue parameter is too old'));
  await settle();
  t.equal(transport.lists.length, 3, 'at once, no backoff: one request that cannot expire');
  t.match(transport.lastList().request, { resourceVersion: '0', limit: undefined, continue: undefined });
  transport.lastList().resolve({ items: [obj('a', '5'), obj('b', '41')], resourceVersion: '42' });
  await settle();
  t.same(store.calls, [['replace', [obj('a', '5'), obj('b', '41')]]], 'the first page is not kept twice');
  t.equal(transport.lastWatch().request.resourceVersion, '42');
  t.ok(logs.some((l) => l.msg === 'continue token expired; listing again in one request'));
});

t.test('after a paginated list, a relist pages too, not older than what the store holds (NotOlderThan, never an exact etcd read)', async (t) => {
  const { time, transport, reflector } = setup(t);
  reflector.start();
  transport.lastList().resolve({ items: [obj('a', '5')], resourceVersion: '40', continue: 'token-1' });
  await settle();
  transport.lastList().resolve({ items: [obj('b', '6')], resourceVersion: '40' });
  await settle();
  transport.lastWatch().handlers.event('ERROR', { kind: 'Status', code: 410 });
  await time.advance(100);
  t.match(transport.lastList().request, { resourceVersion: '40', resourceVersionMatch: 'NotOlderThan', limit: 500 });
});

for (const status of [410, 504]) {
  t.test(`a relist the server cannot serve at that resourceVersion (${status}) reads the latest next, paginated`, async (t) => {
    const { time, transport, startWatching } = setup(t);
    const watch = await startWatching();
    watch.handlers.done(gone());
    await time.advance(100);
    t.equal(transport.lastList().request.resourceVersion, '10');
    transport.lastList().reject(Object.assign(new Error('refused'), { statusCode: status }));
    await time.advance(200);
    t.equal(transport.lists.length, 3);
    t.match(transport.lastList().request, { resourceVersion: undefined, limit: 500 }, 'a consistent read');
    transport.lastList().resolve({ items: [], resourceVersion: '50' });
    await settle();
    transport.lastWatch().handlers.done(gone());
    await time.advance(1000);
    t.equal(transport.lists.length, 4);
    t.equal(transport.lastList().request.resourceVersion, '50', 'back to the watch cache once a list went through');
  });
}

t.test('a 429 with Retry-After waits at least that long, jittered up to twice it, counts as throttled and says so', async (t) => {
  const { time, transport, reflector, metrics, logs } = setup(t);
  reflector.start();
  transport.lastList().reject(Object.assign(new Error('list pods: HTTP 429 TooManyRequests'), { statusCode: 429, retryAfterMs: 3000 }));
  // random() is 0.999999: 3 s asked, spread to just under 6 s; the backoff alone would be 100 ms.
  await time.advance(5998);
  t.equal(transport.lists.length, 1, 'not before the Retry-After and its jitter');
  await time.advance(2);
  t.equal(transport.lists.length, 2);
  const throttled = (await metrics.kubeThrottled.get()).values.find((v) => v.labels.resource === 'pods')?.value;
  t.equal(throttled, 1, 'corridor_kube_throttled_total{resource="pods"}');
  t.ok(logs.some((l) => l.level === 'warn' && l.status === 429 && l.retryAfterMs === 3000 && l.delayMs === 6000));
});

t.test('a 503 without Retry-After is an outage, not throttling: the backoff alone', async (t) => {
  const { time, transport, startWatching, metrics } = setup(t);
  await startWatching();
  transport.lastWatch().handlers.done(Object.assign(new Error('HTTP 503'), { statusCode: 503 }));
  await time.advance(100);
  t.equal(transport.watches.length, 2);
  t.same((await metrics.kubeThrottled.get()).values.filter((v) => v.value > 0), []);
});
