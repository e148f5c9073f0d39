import t from 'tap';
import { AssumeRoleError } from '../../src/credentials/index.js';
import { build } from '../helpers/build-app.js';
import { podInfo } from '../helpers/scripted-kube.js';

const MIN = 60_000;
const CREDS = '/latest/meta-data/iam/security-credentials/spark-etl';

// What the STS adapter turns each wire-level fault into (test/credentials/sts-assumer*.test.ts
// checks that mapping against real STS error bodies, refused sockets and timeouts).
const FAULTS = [
  { name: 'refused connections', error: () => new AssumeRoleError('connect ECONNREFUSED', 'ECONNREFUSED', true) },
  { name: '5xx answers', error: () => new AssumeRoleError('We encountered an internal error', 'InternalFailure', true) },
  { name: 'Throttling', error: () => new AssumeRoleError('Rate exceeded', 'Throttling', true) },
  { name: 'answers slower than the SDK timeout', error: () => new AssumeRoleError('request timed out after 5000 ms', 'Timeout', true) },
  { name: 'AccessDenied (trust policy missing)', error: () => new AssumeRoleError('not authorized to perform: sts:AssumeRole', 'AccessDenied', false) },
];

for (const fault of FAULTS) {
  t.test(`${fault.name} from the first refresh on for 20 minutes: the valid session keeps being served, then renewal recovers`, async (t) => {
    const app = await build(t, ['--rate-limit', '0']);
    app.kube.setNamespace('gha', { 'iam.amazonaws.com/role': 'spark-etl' });
    app.kube.addPod(podInfo({ name: 'driver', ip: '10.0.0.7' }));
    await app.time.advance(0);
    const first = JSON.parse((await app.imds.inject({ url: CREDS, remoteAddress: '10.0.0.7' })).body).AccessKeyId;

    // Just before the earliest refresh (45 min + 10% jitter before expiry), STS breaks.
    await app.time.advance(10 * MIN);
    app.assumer.failWith = fault.error();
    const callsBefore = app.assumer.calls.length;
    let minRemaining = Infinity;
    const wrong: string[] = [];
    for (let s = 0; s < 20 * 60; s += 10) {
      const res = await app.imds.inject({ url: CREDS, remoteAddress: '10.0.0.7' });
      const doc = res.statusCode === 200 ? JSON.parse(res.body) : undefined;
      if (doc?.AccessKeyId !== first) wrong.push(`+${s}s: ${res.statusCode} ${doc?.AccessKeyId ?? res.body}`);
      else minRemaining = Math.min(minRemaining, Date.parse(doc.Expiration) - app.time.now());
      await app.time.advance(10_000);
    }
    t.same(wrong, [], 'every request in the 20 minutes got the valid session');
    const attempts = app.assumer.calls.length - callsBefore;
    t.ok(minRemaining >= 25 * MIN, `never below min-remaining (lowest ${(minRemaining / MIN).toFixed(1)} min)`);
    if (fault.error().retryable) {
      t.ok(attempts >= 4 && attempts <= 20, `retried with backoff: ${attempts} attempts in 20 min`);
    } else {
      t.ok(attempts >= 1 && attempts <= 6, `not hammered: ${attempts} attempts in 20 min`);
      const explain = (await app.admin.inject({ url: '/debug/explain?ip=10.0.0.7' })).json();
      t.equal(explain.credentials.lastError.code, 'AccessDenied', 'explain shows the kept error');
      t.match(await app.metrics.registry.metrics(), /corridor_sts_calls_total\{result="access-denied"\} [1-6]\n/);
      t.ok(app.logs.some((l) => l.component === 'credentials' && JSON.stringify(l).includes('AccessDenied')), 'logged with the role');
    }

    app.assumer.failWith = undefined;
    await app.time.advance(5 * MIN);
    const after = JSON.parse((await app.imds.inject({ url: CREDS, remoteAddress: '10.0.0.7' })).body);
    t.not(after.AccessKeyId, first, 'a renewed session once STS is back');
    t.ok(Date.parse(after.Expiration) - app.time.now() > 50 * MIN);
  });
}

// Throttling is retried within the pod's wait instead (test/integration/sts-throttling.test.ts).
t.test('with no valid session and STS failing, a pod gets 503 at once; other roles are unaffected', async (t) => {
  const app = await build(t, ['--rate-limit', '0']);
  app.kube.setNamespace('gha', { 'iam.amazonaws.com/role': 'spark-etl' });
  app.kube.setNamespace('gha1', { 'iam.amazonaws.com/role': 'gha1-ingest' });
  app.kube.addPod(podInfo({ name: 'ok', ip: '10.0.0.8', namespace: 'gha1' }));
  await app.time.advance(0);
  app.assumer.failWith = new AssumeRoleError('We encountered an internal error', 'InternalFailure', true);
  app.kube.addPod(podInfo({ name: 'new', ip: '10.0.0.7' }));
  await app.time.advance(0);
  const res = await app.imds.inject({ url: CREDS, remoteAddress: '10.0.0.7' });
  t.equal(res.statusCode, 503);
  t.match(res.body, /InternalFailure/);
  t.equal((await app.imds.inject({ url: '/latest/meta-data/iam/security-credentials/gha1-ingest', remoteAddress: '10.0.0.8' })).statusCode, 200);
});
