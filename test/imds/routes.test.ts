import t from 'tap';
import { accessDenied } from '../helpers/fake-assumer.js';
import { build, BASE_ROLE_ARN } from '../helpers/build-app.js';
import { podInfo } from '../helpers/scripted-kube.js';
import { settle } from '../helpers/fake-time.js';
import { UpstreamBusyError } from '../../src/node-metadata/index.js';

const CREDS = '/latest/meta-data/iam/security-credentials/';
const IMDS_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/;

async function withSparkPod(t: Parameters<typeof build>[0], flags: string[] = []) {
  const app = await build(t, flags);
  app.kube.setNamespace('gha', { 'iam.amazonaws.com/role': 'spark-etl' });
  app.kube.addPod(podInfo({ name: 'spark-driver', ip: '10.0.0.7' }));
  await settle();
  return app;
}

t.test('IMDSv2: a token for the caller lists the role and serves its credentials', async (t) => {
  const app = await withSparkPod(t);
  const put = await app.imds.inject({ method: 'PUT', url: '/latest/api/token', remoteAddress: '10.0.0.7', headers: { 'x-aws-ec2-metadata-token-ttl-seconds': '21600' } });
  t.equal(put.statusCode, 200);
  t.equal(put.headers['x-aws-ec2-metadata-token-ttl-seconds'], '21600', 'the TTL is echoed (the Go SDK needs it)');
  const token = put.body;
  const list = await app.imds.inject({ url: CREDS, remoteAddress: '10.0.0.7', headers: { 'x-aws-ec2-metadata-token': token } });
  t.equal(list.statusCode, 200);
  t.equal(list.body, 'spark-etl');
  const doc = await app.imds.inject({ url: `${CREDS}spark-etl`, remoteAddress: '10.0.0.7', headers: { 'x-aws-ec2-metadata-token': token } });
  t.equal(doc.statusCode, 200);
  const body = JSON.parse(doc.body);
  t.equal(body.Code, 'Success');
  t.equal(body.Type, 'AWS-HMAC');
  t.match(body.AccessKeyId, /^ASIAFAKE/);
  t.ok(body.SecretAccessKey);
  t.ok(body.Token);
  t.match(body.Expiration, IMDS_TIME);
  t.match(body.LastUpdated, IMDS_TIME);
  t.equal(Date.parse(body.Expiration) - app.time.now(), 3_600_000, 'a one-hour session');
  t.equal(app.assumer.calls.length, 1);
  t.equal(app.assumer.calls[0]?.roleArn, `${BASE_ROLE_ARN}spark-etl`);
});

t.test('IMDSv1: tokenless GETs are answered unless IMDSv2 is required', async (t) => {
  const v1 = await withSparkPod(t);
  t.equal((await v1.imds.inject({ url: CREDS, remoteAddress: '10.0.0.7' })).body, 'spark-etl');
  const v2only = await withSparkPod(t, ['--require-imdsv2']);
  t.equal((await v2only.imds.inject({ url: CREDS, remoteAddress: '10.0.0.7' })).statusCode, 401);
  t.equal((await v2only.imds.inject({ url: `${CREDS}spark-etl`, remoteAddress: '10.0.0.7' })).statusCode, 401);
});

t.test('a token that is forged, expired or minted for another IP gets 401', async (t) => {
  const app = await withSparkPod(t);
  const mint = async (ip: string, ttl: string) =>
    (await app.imds.inject({ method: 'PUT', url: '/latest/api/token', remoteAddress: ip, headers: { 'x-aws-ec2-metadata-token-ttl-seconds': ttl } })).body;
  const get = (token: string) => app.imds.inject({ url: CREDS, remoteAddress: '10.0.0.7', headers: { 'x-aws-ec2-metadata-token': token } });
  t.equal((await get('AQAEAFakeTokenFromSomewhere==')).statusCode, 401, 'forged');
  t.equal((await get('x'.repeat(5000))).statusCode, 401, 'oversized');
  t.equal((await get(await mint('10.0.0.8', '60'))).statusCode, 401, 'another pod\'s token');
  const short = await mint('10.0.0.7', '1');
  t.equal((await get(short)).statusCode, 200, 'valid before expiry');
  await app.time.advance(1001);
  t.equal((await get(short)).statusCode, 401, 'expired');
  const tampered = (await mint('10.0.0.7', '60')).replace(/.$/, (c) => (c === 'A' ? 'B' : 'A'));
  t.equal((await get(tampered)).statusCode, 401, 'tampered');
});

t.test('with IMDSv2 required, every metadata GET needs a valid token; the token PUT, unknown paths and other methods answer as before any check', async (t) => {
  const app = await withSparkPod(t, ['--require-imdsv2']);
  const bad = { 'x-aws-ec2-metadata-token': 'forged' };
  for (const url of [CREDS, `${CREDS}spark-etl`, '/latest/meta-data/iam/security-credentials-extended/spark-etl', '/latest/meta-data/iam/info', '/latest/meta-data/placement/region']) {
    t.equal((await app.imds.inject({ url, remoteAddress: '10.0.0.7' })).statusCode, 401, `tokenless GET ${url}`);
    t.equal((await app.imds.inject({ url, remoteAddress: '10.0.0.7', headers: bad })).statusCode, 401, `forged token GET ${url}`);
    t.equal((await app.imds.inject({ method: 'HEAD', url, remoteAddress: '10.0.0.7' })).statusCode, 401, `tokenless HEAD ${url}`);
  }
  const put = await app.imds.inject({ method: 'PUT', url: '/latest/api/token', remoteAddress: '10.0.0.7', headers: { ...bad, 'x-aws-ec2-metadata-token-ttl-seconds': '60' } });
  t.equal(put.statusCode, 200, 'the token PUT ignores a token header');
  t.equal((await app.imds.inject({ url: '/latest/api/token', remoteAddress: '10.0.0.7' })).statusCode, 405, 'GET on the token path');
  const unknown = await app.imds.inject({ url: '/latest/user-data', remoteAddress: '10.0.0.7', headers: bad });
  t.same([unknown.statusCode, unknown.body], [404, 'Not Found'], 'an unknown path');
  t.equal((await app.imds.inject({ method: 'POST', url: CREDS, remoteAddress: '10.0.0.7', headers: bad })).statusCode, 405, 'POST on a metadata path');
  const valid = { 'x-aws-ec2-metadata-token': put.body };
  t.equal((await app.imds.inject({ url: '/latest/meta-data/iam/info', remoteAddress: '10.0.0.7', headers: valid })).statusCode, 200, 'iam/info with the token');
  t.equal((await app.imds.inject({ url: '/latest/meta-data/placement/region', remoteAddress: '10.0.0.7', headers: valid })).statusCode, 200, 'passthrough with the token');
});

t.test('the token PUT refuses X-Forwarded-For with 403 and a bad TTL with 400', async (t) => {
  const app = await withSparkPod(t);
  const put = (headers: Record<string, string>) => app.imds.inject({ method: 'PUT', url: '/latest/api/token', remoteAddress: '10.0.0.7', headers });
  t.equal((await put({ 'x-aws-ec2-metadata-token-ttl-seconds': '60', 'x-forwarded-for': '1.2.3.4' })).statusCode, 403);
  for (const ttl of ['0', '21601', 'abc', '-5', '1.5', '']) {
    t.equal((await put({ 'x-aws-ec2-metadata-token-ttl-seconds': ttl })).statusCode, 400, `ttl "${ttl}"`);
  }
  t.equal((await put({})).statusCode, 400, 'missing TTL');
  t.equal((await app.imds.inject({ method: 'GET', url: '/latest/api/token', remoteAddress: '10.0.0.7' })).statusCode, 405, 'GET on the token path');
});

t.test('credential paths answer with and without the trailing slash, and the extended path adds AccountId', async (t) => {
  const app = await withSparkPod(t);
  for (const url of ['/latest/meta-data/iam/security-credentials', CREDS, '/latest/meta-data/iam/security-credentials-extended', '/latest/meta-data/iam/security-credentials-extended/']) {
    const res = await app.imds.inject({ url, remoteAddress: '10.0.0.7' });
    t.equal(res.body, 'spark-etl', url);
  }
  const plain = JSON.parse((await app.imds.inject({ url: `${CREDS}spark-etl`, remoteAddress: '10.0.0.7' })).body);
  const extended = JSON.parse((await app.imds.inject({ url: '/latest/meta-data/iam/security-credentials-extended/spark-etl', remoteAddress: '10.0.0.7' })).body);
  t.equal(plain.AccountId, undefined);
  t.equal(extended.AccountId, '123456789012');
  t.equal(extended.AccessKeyId, plain.AccessKeyId, 'the same session');
  t.equal(app.assumer.calls.length, 1);
});

t.test('asking for a role name that is not the pod\'s own gets 404', async (t) => {
  const app = await withSparkPod(t);
  t.equal((await app.imds.inject({ url: `${CREDS}node-instance-role`, remoteAddress: '10.0.0.7' })).statusCode, 404);
  t.equal(app.assumer.calls.length, 1, 'only the prefetch of the pod\'s own role');
});

t.test('a pod outside its namespace\'s allowed roles gets 404 with a reason and an audit line', async (t) => {
  const app = await build(t);
  app.kube.setNamespace('gha', { 'iam.amazonaws.com/allowed-roles': '["spark-*"]' });
  app.kube.addPod(podInfo({ name: 'sneaky', ip: '10.0.0.9', annotations: { 'iam.amazonaws.com/role': 'admin' } }));
  const res = await app.imds.inject({ url: CREDS, remoteAddress: '10.0.0.9' });
  t.equal(res.statusCode, 404);
  t.match(res.body, /role admin is not allowed in namespace gha/);
  const doc = await app.imds.inject({ url: `${CREDS}admin`, remoteAddress: '10.0.0.9' });
  t.equal(doc.statusCode, 404);
  t.equal(app.assumer.calls.length, 0, 'no STS call for a denied pod');
  const audit = app.logs.filter((l) => l.component === 'audit');
  t.equal(audit.length, 1, 'one audit line per decision change, not per request');
  t.match(audit[0], { pod: 'sneaky', namespace: 'gha', decision: 'deny', reason: 'not-allowed', role: `${BASE_ROLE_ARN}admin` });
});

t.test('a caller that is no pod on this node waits for the watch, then gets 404', async (t) => {
  const app = await build(t);
  app.kube.setNamespace('gha', { 'iam.amazonaws.com/role': 'spark-etl' });
  const res = await app.imds.inject({ url: CREDS, remoteAddress: '10.0.0.50' });
  t.equal(res.statusCode, 404);
  t.match(res.body, /no pod on this node has IP 10.0.0.50/);
});

t.test('a pod that asks before the watch delivered it gets its role once it arrives', async (t) => {
  const app = await build(t, ['--pod-lookup-timeout', '5s']);
  app.kube.setNamespace('gha', { 'iam.amazonaws.com/role': 'spark-etl' });
  const pending = app.imds.inject({ url: CREDS, remoteAddress: '10.0.0.51' });
  await settle();
  app.kube.addPod(podInfo({ name: 'late', ip: '10.0.0.51' }));
  const res = await pending;
  t.equal(res.statusCode, 200);
  t.equal(res.body, 'spark-etl');
});

t.test('two live pods on one IP are both denied', async (t) => {
  const app = await build(t);
  app.kube.setNamespace('gha', { 'iam.amazonaws.com/role': 'spark-etl' });
  app.kube.addPod(podInfo({ name: 'a', ip: '10.0.0.20' }));
  app.kube.addPod(podInfo({ name: 'b', ip: '10.0.0.20' }));
  const res = await app.imds.inject({ url: CREDS, remoteAddress: '10.0.0.20' });
  t.equal(res.statusCode, 404);
  t.match(res.body, /several live pods share 10.0.0.20/);
});

t.test('the node\'s own paths, user-data and identity credentials are never proxied', async (t) => {
  const seen: string[] = [];
  const app = await build(t, [], { get: async (path) => { seen.push(path); return { status: 200, body: 'SECRET', contentType: 'text/plain' }; } });
  app.kube.setNamespace('gha', { 'iam.amazonaws.com/role': 'spark-etl' });
  app.kube.addPod(podInfo({ name: 'p', ip: '10.0.0.7' }));
  for (const url of ['/latest/user-data', '/latest/user-data/', '/2021-07-15/user-data', '/latest/meta-data/identity-credentials/ec2/security-credentials/ec2-instance', '/latest/meta-data/iam/security-credentials/../../user-data', '/latest/meta-data/placement/region/../../user-data', '/latest/meta-data/placement/region/x', '/latest/meta-data/instance-id/%2F', '/latest//meta-data//iam//security-credentials//node-role', '/latest/meta-data/placement/group-name', '/1999-01-01/meta-data/placement/region']) {
    const res = await app.imds.inject({ url, remoteAddress: '10.0.0.7' });
    t.equal(res.statusCode, 404, url);
    t.notMatch(res.body, /SECRET/, url);
  }
  // Listings are corridor's own answers, never the node's.
  for (const url of ['/latest/meta-data/', '/latest/meta-data/iam/', '/1.0/meta-data/iam/security-credentials/', '/', '/latest/', '/latest/meta-data/placement/']) {
    const res = await app.imds.inject({ url, remoteAddress: '10.0.0.7' });
    t.notMatch(res.body, /SECRET/, url);
  }
  t.same(seen, []);
  const region = await app.imds.inject({ url: '/latest/meta-data/placement/region', remoteAddress: '10.0.0.7' });
  t.equal(region.body, 'SECRET', 'allowlisted paths are proxied');
  t.same(seen, ['/latest/meta-data/placement/region']);
});

t.test('methods other than GET on metadata paths get 405', async (t) => {
  const app = await withSparkPod(t);
  for (const method of ['POST', 'DELETE', 'PATCH'] as const) {
    t.equal((await app.imds.inject({ method, url: CREDS, remoteAddress: '10.0.0.7' })).statusCode, 405, method);
  }
});

t.test('with STS failing and nothing cached, the pod gets 503 at once', async (t) => {
  const app = await build(t);
  app.assumer.failWith = accessDenied();
  app.kube.setNamespace('gha', { 'iam.amazonaws.com/role': 'spark-etl' });
  app.kube.addPod(podInfo({ name: 'p', ip: '10.0.0.7' }));
  await settle();
  const res = await app.imds.inject({ url: `${CREDS}spark-etl`, remoteAddress: '10.0.0.7' });
  t.equal(res.statusCode, 503);
  t.match(res.body, /AccessDenied/);
});

t.test('a pod that appears gets its session prefetched, so its first request is a cache hit', async (t) => {
  const app = await build(t);
  app.kube.setNamespace('gha', { 'iam.amazonaws.com/role': 'spark-etl' });
  app.kube.addPod(podInfo({ name: 'p', ip: '10.0.0.7' }));
  await settle();
  t.equal(app.assumer.calls.length, 1, 'assumed before any request');
  await app.imds.inject({ url: `${CREDS}spark-etl`, remoteAddress: '10.0.0.7' });
  const metrics = await app.metrics.registry.getMetricsAsJSON();
  const cache = metrics.find((m) => m.name === 'corridor_credential_cache_total');
  t.same(cache?.values.filter((v) => v.labels.result === 'hit').map((v) => v.value), [1]);
});

t.test('a pod is prefetched when it is scheduled, before it has an IP, so the request right after its IP arrives is a cache hit', async (t) => {
  const app = await build(t);
  app.kube.setNamespace('gha', { 'iam.amazonaws.com/role': 'spark-etl' });
  app.kube.setNamespace('gha1', { 'iam.amazonaws.com/role': 'gha1-ingest' });
  const scheduled = app.kube.addPod(podInfo({ name: 'p', ip: undefined, phase: 'Pending' }));
  await settle();
  t.same(app.assumer.calls.map((c) => c.roleArn), [`${BASE_ROLE_ARN}spark-etl`], 'AssumeRole at scheduling, with no IP yet');
  // Another pod's change makes the app drop sessions no pod uses: the IP-less pod still counts.
  app.kube.addPod(podInfo({ name: 'q', namespace: 'gha1', ip: '10.0.0.8' }));
  await settle();
  const unknown = await app.imds.inject({ url: `${CREDS}spark-etl`, remoteAddress: '10.0.0.7' });
  t.equal(unknown.statusCode, 404, 'before its IP arrives the pod owns no IP');

  app.kube.giveIp(scheduled, '10.0.0.7');
  await settle();
  const res = await app.imds.inject({ url: `${CREDS}spark-etl`, remoteAddress: '10.0.0.7' });
  t.equal(res.statusCode, 200);
  t.equal(app.assumer.calls.length, 2, 'one call per session: none at the IP event or the request');
  const metrics = await app.metrics.registry.getMetricsAsJSON();
  const cache = metrics.find((m) => m.name === 'corridor_credential_cache_total');
  t.same(Object.fromEntries(cache?.values.map((v) => [v.labels.result, v.value]) ?? []), { hit: 1 }, 'a hit, no miss');
});

t.test('two pods of one namespace and role share one session; another namespace gets its own', async (t) => {
  const app = await build(t);
  app.kube.setNamespace('gha', { 'iam.amazonaws.com/role': 'spark-etl' });
  app.kube.setNamespace('gha1', { 'iam.amazonaws.com/role': 'spark-etl' });
  app.kube.addPod(podInfo({ name: 'a', ip: '10.0.0.7' }));
  app.kube.addPod(podInfo({ name: 'b', ip: '10.0.0.8' }));
  app.kube.addPod(podInfo({ name: 'c', ip: '10.0.0.9', namespace: 'gha1' }));
  await settle();
  const key = async (ip: string) => JSON.parse((await app.imds.inject({ url: `${CREDS}spark-etl`, remoteAddress: ip })).body).AccessKeyId;
  t.equal(await key('10.0.0.7'), await key('10.0.0.8'));
  t.not(await key('10.0.0.7'), await key('10.0.0.9'));
  t.equal(app.assumer.calls.length, 2);
  t.match(app.assumer.calls.map((c) => c.roleSessionName).sort(), [/gha/, /gha1/]);
});

t.test('iam/info answers for an allowed pod with an instance-profile-shaped document', async (t) => {
  const app = await withSparkPod(t);
  const res = await app.imds.inject({ url: '/latest/meta-data/iam/info', remoteAddress: '10.0.0.7' });
  t.equal(res.statusCode, 200);
  const info = JSON.parse(res.body);
  t.equal(info.Code, 'Success');
  t.equal(info.InstanceProfileArn, 'arn:aws:iam::123456789012:instance-profile/spark-etl');
  t.match(info.InstanceProfileId, /^AIPA[0-9A-F]{17}$/);
});

t.test('requests are counted by route and status code', async (t) => {
  const app = await withSparkPod(t);
  await app.imds.inject({ url: CREDS, remoteAddress: '10.0.0.7' });
  await app.imds.inject({ url: '/latest/user-data', remoteAddress: '10.0.0.7' });
  const text = await app.metrics.registry.metrics();
  t.match(text, /corridor_requests_total\{route="credentials-list",code="200"\} 1/);
  t.match(text, /corridor_requests_total\{route="other",code="404"\} 1/);
  t.match(text, /corridor_decisions_total\{outcome="allowed",reason="namespace-default"\} 1/);
});

t.test('a credential document, first from STS and then from the cache, has the same headers and is counted both times', async (t) => {
  const app = await withSparkPod(t);
  const first = await app.imds.inject({ url: `${CREDS}spark-etl`, remoteAddress: '10.0.0.7' });
  const cached = await app.imds.inject({ url: `${CREDS}spark-etl`, remoteAddress: '10.0.0.7' });
  const head = await app.imds.inject({ method: 'HEAD', url: `${CREDS}spark-etl`, remoteAddress: '10.0.0.7' });
  t.equal(app.assumer.calls.length, 1);
  for (const res of [first, cached, head]) {
    t.equal(res.statusCode, 200);
    t.equal(res.headers['content-type'], 'text/plain');
    t.equal(res.headers['content-length'], String(Buffer.byteLength(first.body)));
  }
  t.equal(cached.body, first.body);
  t.equal(head.body, '');
  t.match(await app.metrics.registry.metrics(), /corridor_requests_total\{route="credentials",code="200"\} 3/);
});

t.test('a request from an IPv4-mapped IPv6 peer is identified by its IPv4 address', async (t) => {
  const app = await withSparkPod(t);
  t.equal((await app.imds.inject({ url: CREDS, remoteAddress: '::ffff:10.0.0.7' })).body, 'spark-etl');
});

t.test('headers never decide who the caller is', async (t) => {
  const app = await withSparkPod(t);
  const res = await app.imds.inject({ url: CREDS, remoteAddress: '10.0.0.66', headers: { 'x-forwarded-for': '10.0.0.7', 'x-real-ip': '10.0.0.7' } });
  t.equal(res.statusCode, 404);
});

t.test('a passthrough the upstream queue refuses gets 503 with Retry-After; an upstream failure 502', async (t) => {
  let busy = true;
  const app = await build(t, [], {
    get: async () => {
      if (busy) throw new UpstreamBusyError(4, 16);
      throw new Error('connect ECONNREFUSED');
    },
  });
  app.kube.setNamespace('gha', { 'iam.amazonaws.com/role': 'spark-etl' });
  app.kube.addPod(podInfo({ name: 'spark-driver', ip: '10.0.0.7' }));
  await settle();
  const refused = await app.imds.inject({ url: '/latest/meta-data/placement/region', remoteAddress: '10.0.0.7' });
  t.equal(refused.statusCode, 503);
  t.equal(refused.headers['retry-after'], '1');
  t.match(refused.body, /busy/);
  busy = false;
  t.equal((await app.imds.inject({ url: '/latest/meta-data/placement/region', remoteAddress: '10.0.0.7' })).statusCode, 502);
});
