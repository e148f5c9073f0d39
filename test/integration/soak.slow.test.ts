import t from 'tap';
import { build } from '../helpers/build-app.js';
import { podInfo } from '../helpers/scripted-kube.js';
import { throttled } from '../helpers/fake-assumer.js';

const HOUR = 3_600_000;
const MIN = 60_000;
const CREDS = '/latest/meta-data/iam/security-credentials/';

/**
 * A Spark job of 72 hours on 1 h sessions (the role-chaining cap), with a fake clock: executors
 * ask for credentials every few seconds the whole time. Every answer must be a 200 with at least
 * min-remaining left, and STS calls must stay at one per refresh interval per session.
 */
t.test('a 72 h job asking every 5 s always gets credentials with >= 25 min left, at the ideal STS rate', async (t) => {
  const app = await build(t);
  app.kube.setNamespace('gha', { 'iam.amazonaws.com/role': 'spark-etl', 'iam.amazonaws.com/allowed-roles': '["spark-*"]' });
  app.kube.setNamespace('gha1', { 'iam.amazonaws.com/role': 'gha1-ingest' });
  // 200 executors share one role (no refresh storm allowed), one writer has its own, and another corridor its own.
  const pods = [
    ...Array.from({ length: 200 }, (_, i) => podInfo({ name: `executor-${i}`, ip: `10.1.${Math.floor(i / 250)}.${(i % 250) + 1}` })),
    podInfo({ name: 'writer', ip: '10.2.0.1', annotations: { 'iam.amazonaws.com/role': 'spark-writer' } }),
    podInfo({ name: 'ingest', ip: '10.3.0.1', namespace: 'gha1' }),
  ];
  for (const pod of pods) app.kube.addPod(pod);
  await app.time.advance(0);

  const start = app.time.now();
  let served = 0;
  let failures = 0;
  let minRemaining = Infinity;
  for (let tick = 0; app.time.now() - start < 72 * HOUR; tick++) {
    // Each tick one executor, and every 12th tick (once a minute) the writer and the ingest pod.
    const askers = tick % 12 === 0 ? [pods[tick % 200]!, pods[200]!, pods[201]!] : [pods[tick % 200]!];
    for (const pod of askers) {
      const role = pod.name === 'writer' ? 'spark-writer' : pod.namespace === 'gha1' ? 'gha1-ingest' : 'spark-etl';
      const res = await app.imds.inject({ url: `${CREDS}${role}`, remoteAddress: pod.ip });
      if (res.statusCode !== 200) {
        failures++;
        continue;
      }
      served++;
      minRemaining = Math.min(minRemaining, Date.parse(JSON.parse(res.body).Expiration) - app.time.now());
    }
    await app.time.advance(5000);
  }

  const callsByRole = new Map<string, number>();
  for (const call of app.assumer.calls) callsByRole.set(call.roleArn, (callsByRole.get(call.roleArn) ?? 0) + 1);
  // Refresh starts 45 min (+ up to 4.5 min jitter) before expiry: every 10.5-15 min per session.
  const fewest = Math.floor((72 * HOUR) / (15 * MIN));
  const most = Math.ceil((72 * HOUR) / (10.5 * MIN)) + 1;
  t.equal(failures, 0, 'no request failed in 72 h');
  t.ok(minRemaining >= 25 * MIN, `lowest remaining lifetime served: ${(minRemaining / MIN).toFixed(1)} min`);
  t.equal(callsByRole.size, 3, 'one session per (role, namespace)');
  for (const [role, calls] of callsByRole) {
    t.ok(calls >= fewest && calls <= most, `${role}: ${calls} STS calls in 72 h (ideal ${fewest}-${most})`);
  }
  t.comment(`soak: served ${served} in 72 h; min remaining ${(minRemaining / MIN).toFixed(1)} min; STS calls ${[...callsByRole.values()].join('/')} against ideal ${fewest}-${most} each`);
});

t.test('an STS outage of 20 minutes at refresh time costs a 72 h job nothing', async (t) => {
  const app = await build(t);
  app.kube.setNamespace('gha', { 'iam.amazonaws.com/role': 'spark-etl' });
  app.kube.addPod(podInfo({ name: 'driver', ip: '10.0.0.7' }));
  await app.time.advance(0);
  let failures = 0;
  let minRemaining = Infinity;
  for (let hour = 0; hour < 72; hour++) {
    // Every 6 hours STS throttles everything for 20 minutes.
    if (hour % 6 === 3) app.assumer.failWith = throttled();
    for (let s = 0; s < 3600; s += 10) {
      if (hour % 6 === 3 && s === 1200) app.assumer.failWith = undefined;
      const res = await app.imds.inject({ url: `${CREDS}spark-etl`, remoteAddress: '10.0.0.7' });
      if (res.statusCode !== 200) failures++;
      else minRemaining = Math.min(minRemaining, Date.parse(JSON.parse(res.body).Expiration) - app.time.now());
      await app.time.advance(10_000);
    }
  }
  t.equal(failures, 0);
  t.ok(minRemaining >= 25 * MIN, `lowest remaining lifetime served: ${(minRemaining / MIN).toFixed(1)} min`);
});
