import { createHash } from 'node:crypto';
import t, { type Test } from 'tap';
import { startFakeSts, type FakeSts } from '../../demo/index.js';
import { AssumeRoleError, createStsAssumer, type RoleAssumer, type StsAssumer } from '../../src/credentials/index.js';
import { build, type Built } from '../helpers/build-app.js';
import { settle, type FakeTime } from '../helpers/fake-time.js';
import { podInfo } from '../helpers/scripted-kube.js';

/*
 * STS throttling as the agent meets it: the real STS adapter (AWS SDK, HTTP on loopback) against
 * an STS stand-in that answers a share of calls with STS's own Throttling (HTTP 400, an
 * ErrorResponse with <Code>Throttling</Code>), the agent's real servers, policy and session
 * cache, on a fake clock. Only the STS endpoint and the clock are not production's.
 */

const MIN = 60_000;
const CREDS = '/latest/meta-data/iam/security-credentials/';
const MIN_REMAINING_MS = 25 * MIN;

/** Half of the calls, picked by a hash of their number: every run throttles the same calls. */
function halfByHash(): () => boolean {
  let call = 0;
  return () => createHash('sha256').update(`throttle-${call++}`).digest()[0]! < 128;
}

/** The agent's STS adapter, signing with static node keys, pointed at the stand-in; closed with the test. */
function stsAdapter(t: Test, sts: FakeSts, clock?: FakeTime): StsAssumer {
  const adapter = createStsAssumer({
    region: 'us-east-1',
    endpoint: sts.url,
    env: {},
    credentials: { accessKeyId: 'AKIATESTNODEROLE0000', secretAccessKey: 'node-secret' },
    requestTimeoutMs: 5000,
    ...(clock ? { clock } : {}),
  });
  t.teardown(() => adapter.close());
  return adapter;
}

interface Throttled {
  app: Built;
  sts: FakeSts;
  /** Every timer due up to `ms` from now fires in order, each only after the STS calls it started have been answered and handled. */
  run: (ms: number) => Promise<void>;
  /** One credential request from `ip`, with time moving (as it would) while it waits on STS. */
  ask: (ip: string, role: string) => Promise<{ statusCode: number; body: string }>;
  /** The fake time each STS call was answered at, in the order the agent logged them. */
  answeredAt: number[];
}

async function setup(t: Test, throttle: (action: string) => boolean): Promise<Throttled> {
  let time: FakeTime | undefined;
  const sts = await startFakeSts({ now: () => time?.now() ?? Date.now(), throttle });
  t.teardown(() => sts.close());
  // The real adapter; the wrapper only counts calls in flight, so the test can wait for their answers.
  let started = 0;
  let finished = 0;
  let answered: Array<() => void> = [];
  const answeredAt: number[] = [];
  const counted = (adapter: RoleAssumer): RoleAssumer => ({
    assume(request) {
      started++;
      return adapter.assume(request).finally(() => {
        finished++;
        answeredAt.push(time?.now() ?? Number.NaN);
        if (finished === started) for (const wake of answered.splice(0)) wake();
      });
    },
  });
  const app = await build(t, ['--rate-limit', '0'], undefined, {
    assumer: (fakeTime) => {
      time = fakeTime;
      return counted(stsAdapter(t, sts, fakeTime));
    },
  });
  const quiet = async () => {
    do {
      if (started !== finished) await new Promise<void>((wake) => answered.push(wake));
      await settle();
    } while (started !== finished);
  };
  t.teardown(() => {
    answered = [];
  });
  const run = async (ms: number) => {
    const target = app.time.now() + ms;
    for (;;) {
      await quiet();
      const next = app.time.nextAt;
      if (next === undefined || next > target) break;
      await app.time.advance(next - app.time.now());
    }
    await app.time.advance(target - app.time.now());
    await quiet();
  };
  const ask = async (ip: string, role: string) => {
    let done = false;
    const reply = app.imds.inject({ url: CREDS + role, remoteAddress: ip }).finally(() => {
      done = true;
    });
    for (;;) {
      await quiet();
      if (done) break;
      const next = app.time.nextAt;
      if (next === undefined) break;
      await app.time.advance(next - app.time.now());
    }
    return reply;
  };
  return { app, sts, run, ask, answeredAt };
}

t.test('with half of STS calls throttled, every ask over four hours gets a credential: a cached one, or a fresh one retried', async (t) => {
  const { app, sts, run, ask, answeredAt } = await setup(t, halfByHash());
  app.kube.setNamespace('gha', { 'iam.amazonaws.com/role': 'spark-etl' });
  app.kube.setNamespace('shop', { 'iam.amazonaws.com/role': 'web-api' });
  app.kube.setNamespace('data', { 'iam.amazonaws.com/role': 'spark-etl' });
  const pods = [
    { name: 'driver', namespace: 'gha', ip: '10.0.0.7', role: 'spark-etl', from: 0 },
    { name: 'web', namespace: 'shop', ip: '10.0.0.8', role: 'web-api', from: 0 },
    // Pods that start later, each in a namespace of its own (a session key of its own): the
    // prefetch when it is scheduled is the first call for its key, and it may be throttled.
    ...Array.from({ length: 12 }, (_, i) => ({ name: `job-${i}`, namespace: `job-${i}`, ip: `10.0.1.${i + 1}`, role: 'spark-etl', from: (i + 1) * 17 * MIN })),
    // And one that shares the driver's session.
    { name: 'driver-2', namespace: 'gha', ip: '10.0.0.9', role: 'spark-etl', from: 50 * MIN },
  ];
  for (let i = 0; i < 12; i++) app.kube.setNamespace(`job-${i}`, { 'iam.amazonaws.com/role': 'spark-etl' });
  const started = new Set<string>();
  const refused: string[] = [];
  const keysSeen = new Map<string, Set<string>>();
  let asks = 0;
  const start = app.time.now();
  for (let at = 0; at < 4 * 60 * MIN; at += 30_000) {
    for (const pod of pods) {
      if (pod.from > at || started.has(pod.name)) continue;
      // Scheduled now (the prefetch starts), it asks once its container is up.
      app.kube.addPod(podInfo({ name: pod.name, namespace: pod.namespace, ip: pod.ip }));
      started.add(pod.name);
      await run(3000);
    }
    for (const pod of pods) {
      if (!started.has(pod.name)) continue;
      const res = await ask(pod.ip, pod.role);
      asks++;
      const doc = res.statusCode === 200 ? (JSON.parse(res.body) as { AccessKeyId: string; Expiration: string }) : undefined;
      const remaining = doc ? Date.parse(doc.Expiration) - app.time.now() : 0;
      if (!doc || remaining < MIN_REMAINING_MS) refused.push(`${pod.name} at +${((app.time.now() - start) / MIN).toFixed(1)} min: ${res.statusCode} ${doc ? `${remaining / MIN} min left` : res.body}`);
      else keysSeen.set(pod.name, (keysSeen.get(pod.name) ?? new Set()).add(doc.AccessKeyId));
    }
    await run(30_000 - (app.time.now() - start - at));
  }

  t.same(refused, [], `every one of ${asks} asks got a credential with at least min-remaining left`);
  const calls = sts.assumeCalls.length;
  t.ok(sts.throttled > calls * 0.35 && sts.throttled < calls * 0.65, `STS throttled ${sts.throttled} of ${calls} calls`);
  t.ok((keysSeen.get('driver')?.size ?? 0) >= 12, `the driver's session was renewed through the throttling (${keysSeen.get('driver')?.size} sessions in 4 h)`);

  const callLines = app.logs.filter((l) => l.component === 'credentials' && l.msg === 'AssumeRole');
  t.equal(callLines.length, answeredAt.length, 'one log line per STS call');
  const throttledLines = callLines.filter((l) => l.result === 'throttled');
  t.ok(throttledLines.every((l) => l.level === 'warn' && l.code === 'Throttling'), 'each throttled call is a warning with code Throttling');
  // A refresh (its session still served) backs off from 2 s; a key with nothing to serve retries within 100-400 ms first.
  const serving = (l: Record<string, unknown>, i: number) => typeof l.expiration === 'string' && Date.parse(l.expiration) - answeredAt[i]! >= MIN_REMAINING_MS;
  const delays = callLines.map((l, i) => ({ throttled: l.result === 'throttled', serving: serving(l, i), delayMs: Date.parse(l.nextAttemptAt as string) - answeredAt[i]! }));
  const refreshes = delays.filter((d) => d.throttled && d.serving).map((d) => d.delayMs);
  t.ok(refreshes.length > 0, `${refreshes.length} refreshes and their retries were throttled while the session was still served`);
  t.ok(refreshes.every((ms) => ms >= 2000), `each was retried after a backoff of 2 s or more (${Math.min(...refreshes)}-${Math.max(...refreshes)} ms)`);
  const quick = delays.filter((d) => d.throttled && !d.serving).map((d) => d.delayMs);
  t.ok(quick.every((ms) => ms >= 100 && ms <= 400), `keys with nothing to serve were retried within 100-400 ms (${quick.length} calls)`);
  const misses = throttledLines.filter((l) => l.trigger === 'miss' || l.trigger === 'prefetch');
  t.ok(misses.length > 0, `${misses.length} first calls for a new pod were throttled, and the pod was still served`);
  const metrics = await app.metrics.registry.metrics();
  t.match(metrics, new RegExp(`corridor_sts_calls_total\\{result="throttled"\\} ${sts.throttled}\\n`), 'corridor_sts_calls_total counts every throttled call');
});

t.test('with every STS call throttled and nothing cached, a pod gets 503 Throttling after about a second of retries; metrics and explain say throttled', async (t) => {
  const { app, sts, run, ask } = await setup(t, () => true);
  app.kube.setNamespace('gha', { 'iam.amazonaws.com/role': 'spark-etl' });
  app.kube.addPod(podInfo({ name: 'driver', namespace: 'gha', ip: '10.0.0.7' }));
  await run(0);
  const askedAt = app.time.now();
  const callsBefore = sts.assumeCalls.length;
  const res = await ask('10.0.0.7', 'spark-etl');
  t.equal(res.statusCode, 503);
  t.match(res.body, /Throttling/);
  const waited = app.time.now() - askedAt;
  t.ok(waited >= 500 && waited <= 1000, `answered after ${waited} ms of retries`);
  const inWait = sts.assumeCalls.length - callsBefore;
  t.ok(inWait >= 3 && inWait <= 7, `${inWait} calls in the wait`);
  t.match(await app.metrics.registry.metrics(), /corridor_sts_calls_total\{result="throttled"\} [4-8]\n/);
  const explain = (await app.admin.inject({ url: '/debug/explain?ip=10.0.0.7' })).json();
  t.equal(explain.credentials.lastError.code, 'Throttling');
  t.ok(app.logs.some((l) => l.msg === 'no credentials to serve' && l.code === 'Throttling'), 'the refusal is logged with its code');
});

t.test('the STS adapter reads STS\'s Throttling answer, to AssumeRole and to AssumeRoleWithWebIdentity, as retryable Throttling', async (t) => {
  const sts = await startFakeSts({ throttle: () => true });
  t.teardown(() => sts.close());
  const adapter = stsAdapter(t, sts);
  const request = { roleArn: 'arn:aws:iam::123456789012:role/spark-etl', roleSessionName: 'gha@node-a', durationSeconds: 3600 };
  for (const call of [() => adapter.assume(request), () => adapter.assumeWithWebIdentity(request, 'a.token.value')]) {
    const error = await call().then(
      () => undefined,
      (e: unknown) => e,
    );
    t.ok(error instanceof AssumeRoleError);
    t.match(error, { code: 'Throttling', retryable: true });
  }
  t.equal(sts.throttled, 2);
  t.equal(sts.webIdentityCalls.length, 1);
});
