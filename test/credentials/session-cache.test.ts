import { Registry, type Counter } from 'prom-client';
import t, { type Test } from 'tap';
import {
  createSessionCache,
  CredentialsUnavailableError,
  type SessionCache,
  type SessionCacheOptions,
  type SessionKey,
} from '../../src/credentials/index.js';
import { createLogger } from '../../src/log/index.js';
import { createMetrics, type Metrics } from '../../src/metrics/index.js';
import { accessDenied as denied, FakeAssumer, internalFailure as internal, throttled } from '../helpers/fake-assumer.js';
import { FakeTime, settle } from '../helpers/fake-time.js';
import { sink, type LogLine } from '../helpers/log-sink.js';

const MIN = 60_000;
const HOUR = 60 * MIN;
const KEY: SessionKey = { roleArn: 'arn:aws:iam::123456789012:role/spark', namespace: 'etl' };
const OTHER: SessionKey = { roleArn: 'arn:aws:iam::123456789012:role/web', namespace: 'shop' };

interface Harness {
  cache: SessionCache;
  time: FakeTime;
  assumer: FakeAssumer;
  metrics: Metrics;
  logs: LogLine[];
}

function build(t: Test, overrides: Partial<SessionCacheOptions> = {}): Harness {
  const time = new FakeTime();
  const assumer = new FakeAssumer(time);
  const metrics = createMetrics(new Registry(), 'test', { defaultMetrics: false });
  const logs = sink();
  const cache = createSessionCache({
    assumer,
    clock: time,
    scheduler: time,
    random: () => 0.5,
    nodeName: 'ip-10-0-1-2.eu-west-1.compute.internal',
    sessionDurationMs: HOUR,
    refreshBeforeMs: 45 * MIN,
    minRemainingMs: 25 * MIN,
    sessionTags: false,
    metrics,
    logger: createLogger('debug', logs),
    ...overrides,
  });
  t.teardown(() => cache.close());
  return { cache, time, assumer, metrics, logs: logs.lines };
}

async function count(counter: Counter<'result'>, result: string): Promise<number> {
  return (await counter.get()).values.find((v) => v.labels.result === result)?.value ?? 0;
}

async function gauge(metrics: Metrics, name: 'sessions' | 'sessionMinRemaining'): Promise<number | undefined> {
  return (await metrics[name].get()).values[0]?.value;
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected a rejection');
}

t.test('a 1h session is renewed about 15 minutes in, within the 10% jitter window', async (t) => {
  for (const draw of [0, 0.5, 0.999]) {
    const { cache, time, assumer } = build(t, { random: () => draw });
    const first = await cache.get(KEY);
    const refreshAt = first.expiration - 45 * MIN - draw * 4.5 * MIN;
    t.ok(refreshAt >= time.now() + 10.5 * MIN && refreshAt <= time.now() + 15 * MIN, `draw ${draw}: within 10.5..15 min`);
    await time.advance(refreshAt - time.now() - 1);
    t.equal(assumer.calls.length, 1, `draw ${draw}: not before its time`);
    await time.advance(1);
    t.equal(assumer.calls.length, 2, `draw ${draw}: refreshed at ${(refreshAt - first.issuedAt) / MIN} min`);
    const renewed = cache.peek(KEY);
    t.not(renewed?.accessKeyId, first.accessKeyId, 'the new session is served');
    t.equal(renewed?.expiration, refreshAt + HOUR);
  }
});

t.test('with the default random source the refresh still lands in the window, for many sessions', async (t) => {
  const { cache, time, assumer } = build(t, { random: undefined });
  const keys = Array.from({ length: 50 }, (_, i) => ({ roleArn: `arn:aws:iam::123456789012:role/r${i}`, namespace: 'ns' }));
  await Promise.all(keys.map((key) => cache.get(key)));
  await time.advance(10.5 * MIN - 1);
  t.equal(assumer.calls.length, 50, 'no refresh before 10.5 min');
  await time.advance(4.5 * MIN + 1);
  t.equal(assumer.calls.length, 100, 'every session refreshed by 15 min');
  const refreshTimes = new Set(assumer.calledAt.slice(50));
  t.ok(refreshTimes.size > 40, 'refreshes are spread out, not in lockstep');
});

t.test('concurrent misses for one key make one STS call; the rest join it', async (t) => {
  const { cache, assumer, metrics } = build(t);
  assumer.holdNext();
  const waiting = Array.from({ length: 10 }, () => cache.get(KEY));
  t.equal(assumer.calls.length, 1);
  t.equal(cache.peek({ ...KEY }), undefined, 'nothing to serve while the first call is out');
  assumer.release();
  const sessions = await Promise.all(waiting);
  t.ok(sessions.every((s) => s === sessions[0]), 'everyone gets the same session');
  t.equal(assumer.calls.length, 1);
  await cache.get({ ...KEY });
  t.equal(await count(metrics.credentialCache, 'miss'), 1);
  t.equal(await count(metrics.credentialCache, 'coalesced'), 9);
  t.equal(await count(metrics.credentialCache, 'hit'), 1, 'an equal key object is the same key');
  t.equal(await count(metrics.stsCalls, 'success'), 1);
});

t.test('the request carries the session name, duration, external id and (when enabled) session tags', async (t) => {
  const { cache, assumer } = build(t, { sessionTags: true });
  await cache.get({ ...KEY, externalId: 'ext-1234' });
  const request = assumer.calls[0];
  t.same(request, {
    roleArn: KEY.roleArn,
    roleSessionName: 'corridor.etl.ip-10-0-1-2.eu-west-1.compute.internal',
    durationSeconds: 3600,
    externalId: 'ext-1234',
    tags: { 'kubernetes-namespace': 'etl', 'kubernetes-node': 'ip-10-0-1-2.eu-west-1.compute.internal' },
  });
  await cache.get(KEY);
  t.equal(assumer.calls.length, 2, 'a different external id is a different key');
  t.notOk('tags' in (build(t).assumer.calls[0] ?? {}), 'no tags unless enabled');
});

// One role, several corridors, each narrowed by its own session policy.
t.test('two namespaces with one role and different session policies get two STS calls and two sessions, each request carrying its policy', async (t) => {
  const { cache, assumer } = build(t);
  const role = 'arn:aws:iam::123456789012:role/corridor-s3';
  const policyFor = (prefix: string) => `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":["arn:aws:s3:::${prefix}-*","arn:aws:s3:::${prefix}-*/*"]}]}`;
  const gha: SessionKey = { roleArn: role, namespace: 'gha', sessionPolicy: policyFor('gha'), policyArns: ['arn:aws:iam::123456789012:policy/gha-logs'] };
  const gha1: SessionKey = { roleArn: role, namespace: 'gha1', sessionPolicy: policyFor('gha1') };
  const [first, second] = await Promise.all([cache.get(gha), cache.get(gha1)]);
  t.equal(assumer.calls.length, 2, 'one STS call per corridor');
  t.not(first.accessKeyId, second.accessKeyId, 'two sessions');
  t.same(assumer.calls[0], {
    roleArn: role,
    roleSessionName: 'corridor.gha.ip-10-0-1-2.eu-west-1.compute.internal',
    durationSeconds: 3600,
    policy: policyFor('gha'),
    policyArns: ['arn:aws:iam::123456789012:policy/gha-logs'],
  });
  t.same(assumer.calls[1], { roleArn: role, roleSessionName: 'corridor.gha1.ip-10-0-1-2.eu-west-1.compute.internal', durationSeconds: 3600, policy: policyFor('gha1') });
  t.equal(cache.peek({ ...gha, policyArns: [...gha.policyArns!] })?.accessKeyId, first.accessKeyId, 'an equal key object is the same key');
  t.equal(cache.peek({ ...gha, sessionPolicy: policyFor('gha1') }), undefined, 'the session policy is part of the key');
  t.equal(cache.peek({ ...gha, policyArns: undefined }), undefined, 'the policy ARNs are part of the key');
  t.equal(cache.peek({ ...gha, policyArns: ['arn:aws:iam::123456789012:policy/gha-logs', 'arn:aws:iam::123456789012:policy/gha-cache'] }), undefined, 'another ARN list is another key');
  t.equal(cache.peek({ roleArn: role, namespace: 'gha' }), undefined, 'the role without a session policy is another session');
  t.equal(assumer.calls.length, 2, 'peek never calls STS');
});

t.test('policy ARNs are kept in the namespace\'s order: another order is another session', async (t) => {
  const { cache, assumer } = build(t);
  const a = 'arn:aws:iam::123456789012:policy/a';
  const b = 'arn:aws:iam::123456789012:policy/b';
  await cache.get({ ...KEY, policyArns: [a, b] });
  await cache.get({ ...KEY, policyArns: [a, b] });
  t.equal(assumer.calls.length, 1);
  await cache.get({ ...KEY, policyArns: [b, a] });
  t.equal(assumer.calls.length, 2);
  t.same(assumer.calls[1]?.policyArns, [b, a], 'sent as written');
});

t.test('prefetch makes the first request a cache hit', async (t) => {
  const { cache, time, assumer, metrics } = build(t);
  cache.prefetch(KEY);
  cache.prefetch(KEY);
  await time.advance(0);
  t.equal(assumer.calls.length, 1, 'a second prefetch joins the first');
  t.ok(cache.peek(KEY));
  await cache.get(KEY);
  t.equal(await count(metrics.credentialCache, 'miss'), 0);
  t.equal(await count(metrics.credentialCache, 'hit'), 2, 'peek and get both count the hit');
  cache.prefetch(KEY);
  t.equal(assumer.calls.length, 1, 'prefetching a cached key does nothing');
});

t.test('a failed prefetch is kept in status, not thrown', async (t) => {
  const { cache, time, assumer } = build(t);
  assumer.failNext(denied());
  cache.prefetch(KEY);
  await time.advance(0);
  t.equal(cache.status(KEY).lastFailure?.code, 'AccessDenied');
});

t.test('a session is never served with less than min-remaining left, even when timers stall', async (t) => {
  // A scheduler nobody advances: the refresh never fires, as in an event-loop stall.
  const { cache, time, assumer } = build(t, { scheduler: new FakeTime() });
  const first = await cache.get(KEY);
  await time.advance(first.expiration - 25 * MIN - time.now());
  t.equal(cache.peek(KEY), first, 'exactly min-remaining left is still served');
  await time.advance(1);
  t.equal(cache.peek(KEY), undefined, 'one millisecond less is not');
  const second = await cache.get(KEY);
  t.equal(assumer.calls.length, 2, 'get assumes a new session');
  t.not(second.accessKeyId, first.accessKeyId);
  t.equal(cache.peek(KEY), second);
});

t.test('a failing refresh keeps the old session served and retries with backoff, at least 4 times before the floor', async (t) => {
  for (const draw of [0, 0.5, 0.999]) {
    for (const error of [internal, throttled]) {
      const { cache, time, assumer, metrics } = build(t, { random: () => draw });
      const first = await cache.get(KEY);
      assumer.failWith = error();
      const floor = first.expiration - 25 * MIN;
      await time.advance(floor - time.now() - 1);
      const retries = assumer.calledAt.slice(1);
      t.ok(retries.length >= 5, `draw ${draw}, ${error().code}: ${retries.length} attempts before the floor`);
      t.equal(cache.peek(KEY), first, 'the old session is still served');
      const gaps = retries.slice(1).map((at, i) => at - (retries[i] as number));
      t.ok(gaps.every((gap) => gap >= 2000 && gap <= 4 * MIN), 'each delay between 2 s and the 4 min cap');
      t.ok(gaps.slice(0, 3).every((gap, i) => gap <= (gaps[i + 1] as number)), 'delays grow');
      const status = cache.status(KEY);
      t.equal(status.lastFailure?.code, error().code);
      t.ok((status.lastFailure?.nextAttemptAt ?? 0) > time.now(), 'the next attempt is scheduled');
      const failedCalls = await count(metrics.stsCalls, error().code === 'Throttling' ? 'throttled' : 'error');
      t.equal(failedCalls, retries.length);

      assumer.failWith = undefined;
      await time.advance(4 * MIN);
      const renewed = cache.peek(KEY);
      t.ok(renewed && renewed.accessKeyId !== first.accessKeyId, 'recovery replaces the session');
      t.equal(cache.status(KEY).lastFailure, undefined, 'and clears the failure');
      t.equal(time.pendingTimers, 1, 'back to one refresh timer');
    }
  }
});

t.test('with nothing valid, a failure answers at once with CredentialsUnavailableError and retries in the background', async (t) => {
  const { cache, time, assumer } = build(t);
  assumer.failNext(internal());
  const error = await rejection(cache.get(KEY));
  t.type(error, CredentialsUnavailableError);
  t.equal((error as CredentialsUnavailableError).code, 'InternalFailure');
  t.notMatch((error as Error).message, /arn:/, 'the message is safe to show a pod');
  t.equal(assumer.calls.length, 1, 'no retry before answering');
  t.equal(time.pendingTimers, 1, 'a background retry is scheduled');

  const soon = await rejection(cache.get(KEY));
  t.equal((soon as CredentialsUnavailableError).code, 'InternalFailure');
  t.equal(assumer.calls.length, 1, 'a request right after a failure does not call STS again');

  await time.advance(4000);
  t.equal(assumer.calls.length, 2, 'the background retry ran');
  t.ok(cache.peek(KEY), 'and its session is served');
});

t.test('after a 5xx, a request may retry once 2 s have passed, so a key recovers as soon as STS does', async (t) => {
  const { cache, time, assumer } = build(t, { random: () => 0.999 });
  assumer.failNext(internal(), 2);
  await rejection(cache.get(KEY));
  await time.advance(1999);
  await rejection(cache.get(KEY));
  t.equal(assumer.calls.length, 1);
  await time.advance(1);
  await rejection(cache.get(KEY));
  t.equal(assumer.calls.length, 2, 'a request started the second attempt');
  await time.advance(2000);
  t.ok(await cache.get(KEY));
  t.equal(assumer.calls.length, 3);
});

t.test('throttling: a request retries throttled calls within its 1 s wait and gets a fresh session; requests for one key share the wait', async (t) => {
  const { cache, time, assumer, metrics, logs } = build(t);
  assumer.failNext(throttled(), 2);
  const first = cache.get(KEY);
  const second = cache.get(KEY);
  await time.advance(1000);
  const session = await first;
  t.equal(await second, session, 'the second request joined the first one\'s wait');
  t.equal(assumer.calls.length, 3, 'two throttled calls, then a session');
  const gaps = assumer.calledAt.slice(1).map((at, i) => at - assumer.calledAt[i]!);
  t.ok(gaps.every((gap) => gap >= 100 && gap <= 400), `retried 100-400 ms apart: ${gaps.join(', ')} ms`);
  t.equal(await count(metrics.stsCalls, 'throttled'), 2, 'the throttled calls are counted');
  t.same(logs.filter((l) => l.result === 'throttled' && l.level === 'warn').map((l) => l.trigger), ['miss', 'retry'], 'and logged: the request\'s call, then the key\'s quick retry');
  t.equal(await count(metrics.credentialCache, 'coalesced'), 1);
});

t.test('throttling on every call: a request gets Throttling after its wait; requests then fail at once for 2 s; the key makes 9 quick calls at most, then backs off', async (t) => {
  const { cache, time, assumer } = build(t);
  assumer.failWith = throttled();
  const waiting = rejection(cache.get(KEY));
  await time.advance(1000);
  t.equal(((await waiting) as CredentialsUnavailableError).code, 'Throttling');
  const inWait = assumer.calls.length;
  t.ok(inWait >= 3 && inWait <= 7, `${inWait} calls within the wait`);
  for (let i = 0; i < 20; i++) t.equal(((await rejection(cache.get(KEY))) as CredentialsUnavailableError).code, 'Throttling');
  t.equal(assumer.calls.length, inWait, 'requests right after a wait gave up add no calls');
  await time.advance(2000);
  t.ok(assumer.calls.length <= 9, `the first call and 8 quick retries at most (${assumer.calls.length} calls in 3 s)`);
  const quick = assumer.calls.length;
  await time.advance(10_000);
  t.ok(assumer.calls.length - quick <= 2, `then the key backs off (${assumer.calls.length - quick} calls in the next 10 s)`);
  assumer.failWith = undefined;
  const again = cache.get(KEY);
  await time.advance(0);
  t.ok(await again, 'a request after 2 s waits again, and STS answering again ends it');
  t.ok(cache.peek(KEY));
});

t.test('a request waiting out throttling ends with its key dropped or the cache closed, without leaving a timer', async (t) => {
  const { cache, time, assumer } = build(t);
  assumer.failWith = throttled();
  const dropped = rejection(cache.get(KEY));
  await time.advance(0);
  cache.retain([]);
  t.equal(((await dropped) as CredentialsUnavailableError).code, 'Throttling');
  const closing = rejection(cache.get(OTHER));
  await time.advance(0);
  cache.close();
  t.equal(((await closing) as CredentialsUnavailableError).code, 'Throttling');
  t.equal(time.pendingTimers, 0);
});

t.test('AccessDenied is kept per key, retried slowly, and costs no STS call per request', async (t) => {
  const { cache, time, assumer, metrics, logs } = build(t);
  assumer.failWith = denied();
  const first = await rejection(cache.get(KEY));
  t.equal((first as CredentialsUnavailableError).code, 'AccessDenied');
  const failure = cache.status(KEY).lastFailure;
  t.equal(failure?.code, 'AccessDenied');
  t.match(failure?.message, /not authorized/);
  t.ok(failure && failure.nextAttemptAt !== undefined && failure.nextAttemptAt - failure.at > 3.5 * MIN && failure.nextAttemptAt - failure.at <= 4 * MIN, 'slow retry in about 4 min');

  for (let i = 0; i < 100; i++) {
    await rejection(cache.get(KEY));
    cache.prefetch(KEY);
  }
  await time.advance(MIN);
  for (let i = 0; i < 100; i++) await rejection(cache.get(KEY));
  t.equal(assumer.calls.length, 1, '200 requests and 100 prefetches, one STS call');

  await time.advance(20 * MIN);
  t.ok(assumer.calls.length >= 6 && assumer.calls.length <= 7, `slow retries continue in the background (${assumer.calls.length} calls in 21 min)`);
  t.equal(await count(metrics.stsCalls, 'access-denied'), assumer.calls.length);
  const audit = logs.filter((l) => l.msg === 'AssumeRole');
  t.equal(audit.length, assumer.calls.length, 'one audit line per STS call');
  t.match(audit[0], { component: 'credentials', role: KEY.roleArn, namespace: 'etl', result: 'access-denied', code: 'AccessDenied' });

  assumer.failWith = undefined;
  await time.advance(4 * MIN);
  t.ok(cache.peek(KEY), 'fixing IAM lets the next slow retry succeed');
});

t.test('AccessDenied at refresh time keeps the valid session served until the floor', async (t) => {
  const { cache, time, assumer } = build(t);
  const first = await cache.get(KEY);
  assumer.failWith = denied();
  await time.advance(first.expiration - 25 * MIN - time.now());
  t.equal(cache.peek(KEY), first);
  t.ok(assumer.calls.length - 1 >= 4, `${assumer.calls.length - 1} slow attempts before the floor`);
  await time.advance(1);
  t.equal(cache.peek(KEY), undefined);
  t.equal(((await rejection(cache.get(KEY))) as CredentialsUnavailableError).code, 'AccessDenied');
});

// STS granting less than min-remaining (a role's MaxSessionDuration, a skewed clock).
t.test('a session STS grants with less than min-remaining is never served: SessionTooShort at once, one STS call per slow retry', async (t) => {
  const { cache, time, assumer, metrics, logs } = build(t);
  assumer.grantSeconds = 599;
  const joined = await Promise.all([rejection(cache.get(KEY)), rejection(cache.get(KEY))]);
  for (const error of joined) {
    t.type(error, CredentialsUnavailableError);
    t.equal((error as CredentialsUnavailableError).code, 'SessionTooShort', 'a request joining the call is refused too');
  }
  for (let i = 0; i < 10; i++) {
    const error = await rejection(cache.get(KEY));
    t.equal((error as CredentialsUnavailableError).code, 'SessionTooShort');
    t.equal(cache.peek(KEY), undefined, 'nothing is served');
    cache.prefetch(KEY);
  }
  t.equal(assumer.calls.length, 1, '12 requests and 10 prefetches, one STS call');

  const failure = cache.status(KEY).lastFailure;
  t.equal(failure?.code, 'SessionTooShort');
  t.match(failure?.message, /599 s left .*--min-remaining \(1500 s\).*MaxSessionDuration.*--session-duration.*clock/);
  t.equal(cache.status(KEY).session, undefined, 'the short session is not cached');
  t.equal(await count(metrics.stsCalls, 'too-short'), 1);
  t.equal(await count(metrics.stsCalls, 'success'), 0);
  t.equal(await gauge(metrics, 'sessions'), 0);
  const warning = logs.find((l) => l.msg === 'AssumeRole' && l.code === 'SessionTooShort');
  t.match(warning, { level: 'warn', role: KEY.roleArn, namespace: 'etl', result: 'too-short', grantedSeconds: 599, minRemainingSeconds: 1500, err: /MaxSessionDuration/ });

  // Retried on the slow policy (about 4 min with the defaults), not by requests.
  const nextAttemptAt = failure?.nextAttemptAt as number;
  t.ok(nextAttemptAt - time.now() > 3.5 * MIN && nextAttemptAt - time.now() <= 4 * MIN, 'next attempt in about 4 min');
  await time.advance(nextAttemptAt - time.now() - 1);
  for (let i = 0; i < 10; i++) await rejection(cache.get(KEY));
  t.equal(assumer.calls.length, 1, 'no call before the retry interval is up');
  await time.advance(1);
  t.equal(assumer.calls.length, 2, 'the slow retry ran');
  t.equal(((await rejection(cache.get(KEY))) as CredentialsUnavailableError).code, 'SessionTooShort');

  assumer.grantSeconds = undefined;
  await time.advance(4 * MIN);
  t.equal(assumer.calls.length, 3);
  const served = cache.peek(KEY);
  t.ok(served, 'a normal session is served again');
  t.equal((await cache.get(KEY)).accessKeyId, served?.accessKeyId);
  t.equal(cache.status(KEY).lastFailure, undefined, 'and the failure is cleared');
});

t.test('a too-short session at refresh time keeps the valid session served until the floor, then SessionTooShort', async (t) => {
  const { cache, time, assumer } = build(t);
  const first = await cache.get(KEY);
  assumer.grantSeconds = 599;
  await time.advance(first.expiration - 25 * MIN - time.now());
  t.equal(cache.peek(KEY), first, 'the old session is still served');
  t.equal(cache.status(KEY).lastFailure?.code, 'SessionTooShort');
  const attempts = assumer.calls.length - 1;
  t.ok(attempts >= 4 && attempts <= 6, `${attempts} slow attempts in the 20 min before the floor`);
  await time.advance(1);
  t.equal(cache.peek(KEY), undefined, 'never served below min-remaining');
  t.equal(((await rejection(cache.get(KEY))) as CredentialsUnavailableError).code, 'SessionTooShort');
});

t.test('an expired session is dropped rather than kept, and never served', async (t) => {
  const { cache, time, assumer, metrics } = build(t);
  await cache.get(KEY);
  assumer.failWith = internal();
  await time.advance(HOUR + 5 * MIN);
  t.equal(cache.status(KEY).session, undefined);
  t.equal(await gauge(metrics, 'sessions'), 0);
  t.equal(cache.peek(KEY), undefined);
});

t.test('retain drops sessions no pod uses, with their timers, and the gauges follow', async (t) => {
  const { cache, time, assumer, metrics } = build(t);
  await cache.get(KEY);
  await time.advance(MIN);
  await cache.get(OTHER);
  t.equal(time.pendingTimers, 2);
  t.equal(await gauge(metrics, 'sessions'), 2);
  t.equal(await gauge(metrics, 'sessionMinRemaining'), 59 * 60, 'the older session has 59 min left');

  cache.retain([{ ...OTHER }]);
  t.equal(time.pendingTimers, 1, "the dropped key's refresh timer is gone");
  t.equal(cache.peek(KEY), undefined);
  t.equal(cache.status(KEY).session, undefined);
  t.ok(cache.peek(OTHER));
  t.equal(await gauge(metrics, 'sessions'), 1);
  t.equal(await gauge(metrics, 'sessionMinRemaining'), 60 * 60);

  await time.advance(30 * MIN);
  t.equal(assumer.calls.filter((c) => c.roleArn === KEY.roleArn).length, 1, 'no refresh for the dropped key');
  // OTHER was assumed at 1 min and renewed every 12.75 min (at 13.75 and 26.5); it is now 31 min.
  t.equal(await gauge(metrics, 'sessionMinRemaining'), (26.5 + 60 - 31) * 60, 'computed from the clock on demand');

  cache.retain([]);
  t.equal(time.pendingTimers, 0);
  t.ok(Number.isNaN(await gauge(metrics, 'sessionMinRemaining')), 'no session, no lifetime to report');
});

t.test('a key dropped while its call is in flight stays dropped; its waiters still get the session', async (t) => {
  const { cache, time, assumer } = build(t);
  assumer.holdNext();
  const waiting = cache.get(KEY);
  cache.retain([]);
  assumer.release();
  t.ok(await waiting);
  t.equal(cache.peek(KEY), undefined);
  t.equal(time.pendingTimers, 0, 'no refresh scheduled for it');
});

// That no secret reaches a log line is proven through the real logger in test/log/logger.test.ts.
t.test('an STS call logs an audit line with role, namespace and result; throttling warns', async (t) => {
  const { cache, time, assumer, logs } = build(t);
  await cache.get(KEY);
  assumer.failWith = throttled();
  await time.advance(20 * MIN);
  const success = logs.find((l) => l.result === 'success');
  t.match(success, { role: KEY.roleArn, namespace: 'etl', result: 'success', expiration: /^\d{4}-\d\d-\d\dT/ });
  t.ok(logs.some((l) => l.result === 'throttled' && l.level === 'warn'));
});

t.test('close stops every timer', async (t) => {
  const { cache, time, assumer } = build(t);
  await cache.get(KEY);
  assumer.failNext(internal());
  await rejection(cache.get(OTHER));
  t.equal(time.pendingTimers, 2);
  cache.close();
  t.equal(time.pendingTimers, 0);
  await time.advance(2 * HOUR);
  t.equal(assumer.calls.length, 2);
  await settle();
});
