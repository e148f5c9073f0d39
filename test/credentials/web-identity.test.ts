import t from 'tap';
import type { Test } from 'tap';
import { build, BASE_ROLE_ARN, type Built } from '../helpers/build-app.js';
import { podInfo } from '../helpers/scripted-kube.js';
import { settle } from '../helpers/fake-time.js';
import { FakeWebIdentitySts } from '../helpers/web-identity-sts.js';

/**
 * Web-identity mode through the whole agent (createAgent): the scripted cluster answers
 * TokenRequests as the API server does and signs the tokens with its issuer key; the STS stand-in
 * verifies them against that issuer's JWKS and the role's trust (`sub`, `aud`) before it hands out
 * a session. No FakeAssumer and no AWS credentials anywhere.
 */

const SPARK = `${BASE_ROLE_ARN}spark-etl`;
const CREDS = '/latest/meta-data/iam/security-credentials/spark-etl';
const HOUR = 3_600_000;

let sts: FakeWebIdentitySts | undefined;

async function webIdentityAgent(t: Test, flags: string[] = [], trusted: readonly string[] = ['system:serviceaccount:gha:spark']): Promise<Built & { sts: FakeWebIdentitySts }> {
  const agent = await build(t, ['--credential-mode', 'web-identity', ...flags], undefined, {
    webIdentitySts: (time, kube) => {
      sts = new FakeWebIdentitySts(time, { issuer: kube.issuer, audiences: ['sts.amazonaws.com'], jwks: () => kube.jwks(), roles: new Map([[SPARK, { sub: trusted, aud: 'sts.amazonaws.com' }]]) });
      return sts;
    },
  });
  agent.kube.setNamespace('gha', { 'iam.amazonaws.com/role': 'spark-etl' });
  agent.kube.setServiceAccount('gha', 'spark', {});
  agent.kube.setServiceAccount('gha', 'other', {});
  return Object.assign(agent, { sts: sts as FakeWebIdentitySts });
}

t.test('a pod the policy allows gets its role through a token of its own ServiceAccount, bound to it, for sts.amazonaws.com, for 10 minutes', async (t) => {
  const agent = await webIdentityAgent(t);
  const pod = agent.kube.addPod(podInfo({ name: 'spark-driver', ip: '10.0.0.7', serviceAccountName: 'spark' }));
  const reply = await agent.imds.inject({ url: CREDS, remoteAddress: '10.0.0.7' });
  t.equal(reply.statusCode, 200, reply.body);
  t.match(JSON.parse(reply.body), { Code: 'Success', Type: 'AWS-HMAC', AccessKeyId: /^ASIA/ });
  const granted = agent.kube.tokenRequests.filter((r) => r.status === 201);
  t.ok(granted.length >= 1);
  t.same(granted[0]?.request, { namespace: 'gha', serviceAccount: 'spark', pod: { name: 'spark-driver', uid: pod.uid }, audience: 'sts.amazonaws.com', expirationSeconds: 600 });
  const call = agent.sts.calls.find((c) => c.refused === undefined);
  t.match(call?.claims, { sub: 'system:serviceaccount:gha:spark', aud: ['sts.amazonaws.com'], iss: agent.kube.issuer });
  t.match(call?.claims?.['kubernetes.io'], { pod: { name: 'spark-driver', uid: pod.uid } }, 'the token STS saw is bound to the pod');
  t.match(call?.request, { roleArn: SPARK, durationSeconds: 3600, roleSessionName: 'corridor.gha.node-a' });
});

t.test('sessions last as long as --session-duration allows in this mode (12h), and are renewed refresh-before ahead with a new token', async (t) => {
  const agent = await webIdentityAgent(t, ['--session-duration', '12h']);
  agent.kube.addPod(podInfo({ name: 'spark-driver', ip: '10.0.0.7', serviceAccountName: 'spark' }));
  const first = JSON.parse((await agent.imds.inject({ url: CREDS, remoteAddress: '10.0.0.7' })).body) as { Expiration: string; AccessKeyId: string };
  t.equal(Date.parse(first.Expiration) - agent.time.now(), 12 * HOUR, 'a 12 h session');
  const tokensBefore = agent.kube.tokenRequests.length;
  // Renewal starts 45 min (plus jitter, pinned) before expiry: before that nothing is asked.
  await agent.time.advance(10 * HOUR);
  t.equal(agent.kube.tokenRequests.length, tokensBefore, 'no token asked in the first 10 h');
  await agent.time.advance(1.5 * HOUR);
  await settle();
  t.equal(agent.kube.tokenRequests.length, tokensBefore + 1, 'a fresh token for the renewal');
  const second = JSON.parse((await agent.imds.inject({ url: CREDS, remoteAddress: '10.0.0.7' })).body) as { AccessKeyId: string; Expiration: string };
  t.not(second.AccessKeyId, first.AccessKeyId, 'a new session is served');
  t.ok(Date.parse(second.Expiration) - agent.time.now() > 11 * HOUR);
});

t.test('a pod of a ServiceAccount the role does not trust gets 503, and explain shows STS\'s AccessDenied and the ServiceAccount the trust must name', async (t) => {
  const agent = await webIdentityAgent(t);
  agent.kube.addPod(podInfo({ name: 'intruder', ip: '10.0.0.9', serviceAccountName: 'other' }));
  const reply = await agent.imds.inject({ url: CREDS, remoteAddress: '10.0.0.9' });
  t.equal(reply.statusCode, 503);
  t.match(reply.body, /AccessDenied/);
  t.match(agent.sts.calls.at(-1), { refused: 'AccessDenied', claims: undefined });
  const explain = JSON.parse((await agent.admin.inject({ url: '/debug/explain?ip=10.0.0.9', remoteAddress: '127.0.0.1' })).body) as Record<string, unknown>;
  t.match(explain, {
    decision: 'allow',
    role: SPARK,
    credentialMode: 'web-identity',
    trustSubject: 'system:serviceaccount:gha:other',
    credentials: { lastError: { code: 'AccessDenied', message: /AssumeRoleWithWebIdentity/ } },
  });
  const metrics = (await agent.admin.inject({ url: '/metrics', remoteAddress: '127.0.0.1' })).body;
  t.match(metrics, /^corridor_sts_calls_total\{result="access-denied"\} 1$/m);
});

t.test('two ServiceAccounts of one namespace using one role get separate sessions, each from its own token', async (t) => {
  const agent = await webIdentityAgent(t, [], ['system:serviceaccount:gha:spark', 'system:serviceaccount:gha:other']);
  agent.kube.addPod(podInfo({ name: 'a', ip: '10.0.0.7', serviceAccountName: 'spark' }));
  agent.kube.addPod(podInfo({ name: 'b', ip: '10.0.0.8', serviceAccountName: 'other' }));
  agent.kube.addPod(podInfo({ name: 'c', ip: '10.0.0.10', serviceAccountName: 'spark' }));
  const keys = await Promise.all(['10.0.0.7', '10.0.0.8', '10.0.0.10'].map(async (ip) => (JSON.parse((await agent.imds.inject({ url: CREDS, remoteAddress: ip })).body) as { AccessKeyId: string }).AccessKeyId));
  t.equal(keys[0], keys[2], 'the pods of one ServiceAccount share a session');
  t.not(keys[0], keys[1], 'another ServiceAccount has its own');
  t.same(new Set(agent.sts.calls.filter((c) => !c.refused).map((c) => c.claims?.sub)), new Set(['system:serviceaccount:gha:spark', 'system:serviceaccount:gha:other']));
});

t.test('a TokenRequest the API server refuses (403) is kept as TokenRequestDenied, not retried per request, and STS is never asked', async (t) => {
  const agent = await webIdentityAgent(t);
  agent.kube.tokenFailures.push(403);
  agent.kube.addPod(podInfo({ name: 'spark-driver', ip: '10.0.0.7', serviceAccountName: 'spark' }));
  await settle();
  const first = await agent.imds.inject({ url: CREDS, remoteAddress: '10.0.0.7' });
  t.equal(first.statusCode, 503);
  t.match(first.body, /TokenRequestDenied/);
  const asked = agent.kube.tokenRequests.length;
  await agent.imds.inject({ url: CREDS, remoteAddress: '10.0.0.7' });
  t.equal(agent.kube.tokenRequests.length, asked, 'a second request does not ask again');
  t.equal(agent.sts.calls.length, 0, 'STS is never asked without a token');
  const explain = JSON.parse((await agent.admin.inject({ url: '/debug/explain?ip=10.0.0.7', remoteAddress: '127.0.0.1' })).body) as Record<string, unknown>;
  t.match(explain, { credentials: { lastError: { code: 'TokenRequestDenied', message: /serviceaccount gha\/spark.*403/ } } });
});

t.test('a refused TokenRequest is retried within seconds, not minutes: a new pod the API server\'s caches had not yet seen gets its role', async (t) => {
  const agent = await webIdentityAgent(t);
  // The first two requests are refused, as by a node authorizer whose graph lags the pod.
  agent.kube.tokenFailures.push(403, 403);
  agent.kube.addPod(podInfo({ name: 'spark-driver', ip: '10.0.0.7', serviceAccountName: 'spark' }));
  await settle();
  t.equal((await agent.imds.inject({ url: CREDS, remoteAddress: '10.0.0.7' })).statusCode, 503);
  const started = agent.time.now();
  let reply = await agent.imds.inject({ url: CREDS, remoteAddress: '10.0.0.7' });
  while (reply.statusCode !== 200 && agent.time.now() - started < 60_000) {
    await agent.time.advance(1_000);
    await settle();
    reply = await agent.imds.inject({ url: CREDS, remoteAddress: '10.0.0.7' });
  }
  t.equal(reply.statusCode, 200, 'served once the API server grants the token');
  t.ok(agent.time.now() - started <= 15_000, `within ${(agent.time.now() - started) / 1000} s of the refusal (two backoff steps; the slow retry would be 4 min)`);
  t.equal(agent.kube.tokenRequests.length, 3, 'one TokenRequest per attempt, none per poll');
});

t.test('a TokenRequest refused for good is asked again with growing delays, never per request', async (t) => {
  const agent = await webIdentityAgent(t);
  agent.kube.tokenFailures.push(...Array.from({ length: 100 }, () => 403));
  agent.kube.addPod(podInfo({ name: 'spark-driver', ip: '10.0.0.7', serviceAccountName: 'spark' }));
  await settle();
  // The pod polls once a second for 10 minutes.
  const statuses = new Set<number>();
  for (let second = 0; second < 600; second++) {
    statuses.add((await agent.imds.inject({ url: CREDS, remoteAddress: '10.0.0.7' })).statusCode);
    await agent.time.advance(1_000);
    await settle();
  }
  t.same([...statuses], [503], 'refused all along, as the API server refuses');
  const asked = agent.kube.tokenRequests.length;
  t.ok(asked >= 4 && asked <= 12, `${asked} TokenRequests in 10 minutes of polling (backoff from 2 s to 4 min)`);
  t.equal(agent.sts.calls.length, 0);
});

t.test('the token is requested as this node with --token-request-as-node, and another audience with --token-audience', async (t) => {
  const agent = await build(t, ['--credential-mode', 'web-identity', '--token-request-as-node', '--token-audience', 'sts.example.com', '--token-expiration', '15m'], undefined, {
    webIdentitySts: (time, kube) => new FakeWebIdentitySts(time, { issuer: kube.issuer, audiences: ['sts.example.com'], jwks: () => kube.jwks(), roles: new Map([[SPARK, { sub: ['system:serviceaccount:gha:spark'], aud: 'sts.example.com' }]]) }),
  });
  agent.kube.setNamespace('gha', { 'iam.amazonaws.com/role': 'spark-etl' });
  agent.kube.setServiceAccount('gha', 'spark', {});
  agent.kube.addPod(podInfo({ name: 'spark-driver', ip: '10.0.0.7', serviceAccountName: 'spark' }));
  t.equal((await agent.imds.inject({ url: CREDS, remoteAddress: '10.0.0.7' })).statusCode, 200);
  t.match(agent.kube.tokenRequests[0]?.request, { asNode: 'node-a', audience: 'sts.example.com', expirationSeconds: 900 });
});

t.test('in pod scope the token is bound to the very pod the session is for', async (t) => {
  const agent = await webIdentityAgent(t, ['--session-scope', 'pod']);
  agent.kube.addPod(podInfo({ name: 'a', ip: '10.0.0.7', serviceAccountName: 'spark' }));
  const b = agent.kube.addPod(podInfo({ name: 'b', ip: '10.0.0.8', serviceAccountName: 'spark' }));
  t.equal((await agent.imds.inject({ url: CREDS, remoteAddress: '10.0.0.8' })).statusCode, 200);
  const forB = agent.sts.calls.find((c) => c.request.roleSessionName === 'corridor.gha.b');
  t.match(forB?.claims?.['kubernetes.io'], { pod: { name: 'b', uid: b.uid } });
});
