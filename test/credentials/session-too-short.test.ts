import t from 'tap';
import { build } from '../helpers/build-app.js';
import { podInfo } from '../helpers/scripted-kube.js';
import { settle } from '../helpers/fake-time.js';

const CREDS = '/latest/meta-data/iam/security-credentials/';

// A session STS grants shorter than --min-remaining, through the app: STS grants 599 s, --min-remaining is 25 min.
t.test('a pod whose role STS grants less than min-remaining gets 503 naming SessionTooShort, without an STS call per request', async (t) => {
  const app = await build(t);
  app.assumer.grantSeconds = 599;
  app.kube.setNamespace('gha', { 'iam.amazonaws.com/role': 'spark-etl' });
  app.kube.addPod(podInfo({ name: 'spark-driver', ip: '10.0.0.7' }));
  await settle();
  for (let i = 0; i < 10; i++) {
    const res = await app.imds.inject({ url: `${CREDS}spark-etl`, remoteAddress: '10.0.0.7' });
    t.equal(res.statusCode, 503, `request ${i + 1} gets 503`);
    t.match(res.body, /spark-etl.*SessionTooShort/);
    t.notMatch(res.body, /AccessKeyId/);
  }
  t.equal(app.assumer.calls.length, 1, 'ten requests, one AssumeRole (the prefetch)');
  const explained = (await app.admin.inject({ url: '/debug/explain?ip=10.0.0.7' })).json();
  t.match(explained, { decision: 'allow', credentials: { expiration: null, lastError: { code: 'SessionTooShort', message: /599 s left.*--min-remaining/ } } });
  const metrics = (await app.admin.inject({ url: '/metrics' })).body;
  t.match(metrics, /corridor_sts_calls_total\{result="too-short"\} 1/);
  t.match(metrics, /corridor_requests_total\{route="[^"]+",code="503"\} 10/);
  t.ok(app.logs.some((l) => l.level === 'warn' && l.code === 'SessionTooShort' && l.grantedSeconds === 599 && l.minRemainingSeconds === 1500));
});
