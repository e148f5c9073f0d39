import http from 'node:http';
import type { AddressInfo } from 'node:net';
import t, { type Test } from 'tap';
import { AssumeRoleError, createStsAssumer, type AssumeRequest, type StsAssumer } from '../../src/credentials/index.js';
import { FakeTime } from '../helpers/fake-time.js';
import { MOTO_ACCOUNT, MOTO_CREDENTIALS, startMoto } from '../helpers/moto.js';

const REQUEST: AssumeRequest = {
  roleArn: `arn:aws:iam::${MOTO_ACCOUNT}:role/teams/spark-etl`,
  roleSessionName: 'corridor.etl.node-1',
  durationSeconds: 3600,
};

function assumerFor(t: Test, endpoint: string, requestTimeoutMs = 5_000, clock = new FakeTime()): StsAssumer {
  const assumer = createStsAssumer({ region: 'us-east-1', endpoint, env: {}, credentials: MOTO_CREDENTIALS, requestTimeoutMs, clock });
  t.teardown(() => assumer.close());
  return assumer;
}

async function rejection(promise: Promise<unknown>): Promise<AssumeRoleError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof AssumeRoleError) return error;
    throw error;
  }
  throw new Error('expected AssumeRole to fail');
}

t.test('against moto: AssumeRole returns the assumed-role ARN, parsed expiration and issuedAt from the clock', async (t) => {
  const moto = await startMoto(t);
  const clock = new FakeTime(Date.UTC(2030, 0, 1));
  const assumer = assumerFor(t, moto.endpoint, 5_000, clock);
  const before = Date.now();
  const session = await assumer.assume(REQUEST);
  t.equal(session.assumedRoleArn, `arn:aws:sts::${MOTO_ACCOUNT}:assumed-role/spark-etl/corridor.etl.node-1`);
  t.match(session.accessKeyId, /^ASIA/);
  t.ok(session.secretAccessKey.length > 0 && session.sessionToken.length > 0);
  t.equal(session.issuedAt, Date.UTC(2030, 0, 1), 'issuedAt comes from the injected clock');
  // moto stamps Expiration from its own wall clock: now + DurationSeconds.
  t.ok(session.expiration >= before + 3600_000 - 5_000 && session.expiration <= Date.now() + 3600_000 + 5_000, 'expiration is about an hour away');
  t.equal(session.expiration % 1, 0, 'milliseconds since the epoch');

  const withExtras = await assumer.assume({ ...REQUEST, durationSeconds: 900, externalId: 'ext-1234', tags: { 'kubernetes-namespace': 'etl' } });
  t.ok(withExtras.expiration <= Date.now() + 900_000 + 5_000, 'DurationSeconds is sent');
});

/** A loopback stand-in for STS that answers each call with the next scripted status and body. */
async function fakeSts(t: Test, answer: (request: http.IncomingMessage, body: string) => [number, string] | 'hang'): Promise<{ endpoint: string; requests: string[] }> {
  const requests: string[] = [];
  const server = http.createServer((request, response) => {
    let body = '';
    request.on('data', (chunk: Buffer) => (body += chunk.toString()));
    request.on('end', () => {
      requests.push(body);
      const outcome = answer(request, body);
      if (outcome === 'hang') return;
      response.writeHead(outcome[0], { 'content-type': 'text/xml' });
      response.end(outcome[1]);
    });
  });
  server.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  t.teardown(() => {
    server.closeAllConnections();
    server.close();
  });
  return { endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, requests };
}

function stsError(type: 'Sender' | 'Receiver', code: string, message: string): string {
  return `<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <Error>
    <Type>${type}</Type>
    <Code>${code}</Code>
    <Message>${message}</Message>
  </Error>
  <RequestId>c6104cbe-af31-11e0-8154-cbc7ccf896c7</RequestId>
</ErrorResponse>`;
}

const ERRORS: Array<{ name: string; status: number; body: string; code: string; retryable: boolean }> = [
  { name: 'Throttling (HTTP 400)', status: 400, body: stsError('Sender', 'Throttling', 'Rate exceeded'), code: 'Throttling', retryable: true },
  { name: 'RequestLimitExceeded', status: 400, body: stsError('Sender', 'RequestLimitExceeded', 'Request limit exceeded.'), code: 'Throttling', retryable: true },
  {
    name: 'AccessDenied (HTTP 403)',
    status: 403,
    body: stsError('Sender', 'AccessDenied', 'User: arn:aws:sts::123456789012:assumed-role/node/i-0abc is not authorized to perform: sts:AssumeRole on resource: arn:aws:iam::123456789012:role/x'),
    code: 'AccessDenied',
    retryable: false,
  },
  { name: 'ValidationError', status: 400, body: stsError('Sender', 'ValidationError', "1 validation error detected: Value at 'durationSeconds' failed to satisfy constraint"), code: 'ValidationError', retryable: false },
  { name: 'MalformedPolicyDocument (modelled)', status: 400, body: stsError('Sender', 'MalformedPolicyDocument', 'bad policy'), code: 'MalformedPolicyDocument', retryable: false },
  { name: 'RegionDisabledException (modelled)', status: 403, body: stsError('Sender', 'RegionDisabledException', 'STS is not activated in this region'), code: 'RegionDisabledException', retryable: false },
  { name: 'ExpiredTokenException (modelled)', status: 400, body: stsError('Sender', 'ExpiredTokenException', 'The security token included in the request is expired'), code: 'ExpiredTokenException', retryable: false },
  { name: 'InternalFailure (HTTP 500)', status: 500, body: stsError('Receiver', 'InternalFailure', 'We encountered an internal error'), code: 'InternalFailure', retryable: true },
  { name: 'a 503 with an HTML body', status: 503, body: '<html><body>Service Unavailable</body></html>', code: 'HTTP503', retryable: true },
  { name: 'an unknown 4xx code', status: 400, body: stsError('Sender', 'SomethingNew', 'new error'), code: 'SomethingNew', retryable: false },
  { name: 'HTTP 429 without a code', status: 429, body: '', code: 'Throttling', retryable: true },
];

t.test('STS error responses map to AssumeRoleError codes and retryable flags', async (t) => {
  for (const expected of ERRORS) {
    const sts = await fakeSts(t, () => [expected.status, expected.body]);
    const error = await rejection(assumerFor(t, sts.endpoint).assume(REQUEST));
    t.equal(error.code, expected.code, `${expected.name}: code`);
    t.equal(error.retryable, expected.retryable, `${expected.name}: retryable`);
    t.equal(sts.requests.length, 1, `${expected.name}: one attempt, no SDK retries`);
  }
});

t.test('a 200 without credentials is an InvalidResponse, retryable', async (t) => {
  const sts = await fakeSts(t, () => [200, '<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><AssumeRoleResult></AssumeRoleResult></AssumeRoleResponse>']);
  const error = await rejection(assumerFor(t, sts.endpoint).assume(REQUEST));
  t.match(error, { code: 'InvalidResponse', retryable: true });
});

t.test('a request that exceeds requestTimeoutMs fails as a retryable Timeout', async (t) => {
  const sts = await fakeSts(t, () => 'hang');
  const started = Date.now();
  const error = await rejection(assumerFor(t, sts.endpoint, 300).assume(REQUEST));
  t.match(error, { code: 'Timeout', retryable: true });
  t.ok(Date.now() - started < 3_000, 'gives up near the timeout');
});

t.test('a refused connection fails as a retryable network error', async (t) => {
  const closed = http.createServer();
  await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', () => resolve()));
  const port = (closed.address() as AddressInfo).port;
  await new Promise((resolve) => closed.close(resolve));
  const error = await rejection(assumerFor(t, `http://127.0.0.1:${port}`).assume(REQUEST));
  t.match(error, { code: 'ECONNREFUSED', retryable: true });
});

t.test('the request carries ExternalId, tags and the session name', async (t) => {
  const sts = await fakeSts(t, () => [400, stsError('Sender', 'AccessDenied', 'no')]);
  await rejection(assumerFor(t, sts.endpoint).assume({ ...REQUEST, externalId: 'ext-1234', tags: { 'kubernetes-namespace': 'etl', 'kubernetes-node': 'node-1' } }));
  const form = new URLSearchParams(sts.requests[0]);
  t.equal(form.get('Action'), 'AssumeRole');
  t.equal(form.get('RoleArn'), REQUEST.roleArn);
  t.equal(form.get('RoleSessionName'), 'corridor.etl.node-1');
  t.equal(form.get('DurationSeconds'), '3600');
  t.equal(form.get('ExternalId'), 'ext-1234');
  t.equal(form.get('Tags.member.1.Key'), 'kubernetes-namespace');
  t.equal(form.get('Tags.member.1.Value'), 'etl');
  t.equal(form.get('Tags.member.2.Key'), 'kubernetes-node');
});

// Session policies on the wire.
const SESSION_POLICY = '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":["arn:aws:s3:::gha-*","arn:aws:s3:::gha-*/*"]}]}';
const POLICY_ARNS = [`arn:aws:iam::${MOTO_ACCOUNT}:policy/gha-logs`, 'arn:aws:iam::aws:policy/ReadOnlyAccess'];

t.test('the request carries the session policy as Policy and the ARNs as PolicyArns.member.N.arn, in order', async (t) => {
  const sts = await fakeSts(t, () => [400, stsError('Sender', 'AccessDenied', 'no')]);
  await rejection(assumerFor(t, sts.endpoint).assume({ ...REQUEST, policy: SESSION_POLICY, policyArns: POLICY_ARNS }));
  const form = new URLSearchParams(sts.requests[0]);
  t.equal(form.get('Policy'), SESSION_POLICY, 'the compact JSON, byte for byte');
  t.equal(form.get('PolicyArns.member.1.arn'), POLICY_ARNS[0]);
  t.equal(form.get('PolicyArns.member.2.arn'), POLICY_ARNS[1]);
  t.equal(form.has('PolicyArns.member.3.arn'), false);

  await rejection(assumerFor(t, sts.endpoint).assume(REQUEST));
  const plain = new URLSearchParams(sts.requests[1]);
  t.equal(plain.has('Policy'), false, 'no Policy without a session policy');
  t.notOk([...plain.keys()].some((k) => k.startsWith('PolicyArns')), 'no PolicyArns without ARNs');
});

t.test('against moto: AssumeRole accepts Policy and PolicyArns, and moto records the policy as sent', async (t) => {
  const moto = await startMoto(t);
  const assumer = assumerFor(t, moto.endpoint);
  const session = await assumer.assume({ ...REQUEST, roleSessionName: 'corridor.gha.node-1', policy: SESSION_POLICY, policyArns: POLICY_ARNS });
  t.equal(session.assumedRoleArn, `arn:aws:sts::${MOTO_ACCOUNT}:assumed-role/spark-etl/corridor.gha.node-1`);
  // moto ignores session policies for permissions, but keeps the AssumedRole it made, Policy included.
  const data = (await (await fetch(`${moto.endpoint}/moto-api/data.json`)).json()) as { sts?: { AssumedRole?: Array<{ session_name: string; policy: string | null }> } };
  const assumed = data.sts?.AssumedRole?.find((r) => r.session_name === 'corridor.gha.node-1');
  t.equal(assumed?.policy, SESSION_POLICY, 'moto received the Policy parameter intact');
});

t.test('against moto: AssumeRoleWithWebIdentity goes out unsigned (the adapter has no AWS credentials) and its answer is parsed into a 12 h session', async (t) => {
  const moto = await startMoto(t);
  const seen: Array<{ authorization: string | undefined; body: string }> = [];
  // A recording front: what the adapter sends, then moto's answer as it is.
  const front = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      seen.push({ authorization: req.headers.authorization, body: body.toString('utf8') });
      const upstream = http.request(`${moto.endpoint}${req.url ?? '/'}`, { method: req.method, headers: req.headers }, (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      });
      upstream.end(body);
    });
  });
  await new Promise<void>((resolve) => front.listen(0, '127.0.0.1', resolve));
  t.teardown(() => front.close());
  const clock = new FakeTime(Date.UTC(2030, 0, 1));
  const assumer = createStsAssumer({ region: 'us-east-1', endpoint: `http://127.0.0.1:${(front.address() as AddressInfo).port}`, env: {}, requestTimeoutMs: 5_000, clock });
  t.teardown(() => assumer.close());
  const session = await assumer.assumeWithWebIdentity({ ...REQUEST, durationSeconds: 43_200, policy: '{"Version":"2012-10-17","Statement":[]}' }, 'eyJhbGciOiJFUzI1NiJ9.e30.c2ln');
  t.equal(seen[0]?.authorization, undefined, 'no Authorization header: the call is unsigned');
  const form = new URLSearchParams(seen[0]?.body ?? '');
  t.equal(form.get('Action'), 'AssumeRoleWithWebIdentity');
  t.equal(form.get('WebIdentityToken'), 'eyJhbGciOiJFUzI1NiJ9.e30.c2ln');
  t.equal(form.get('DurationSeconds'), '43200');
  t.ok(form.get('Policy'), 'the session policy is sent');
  t.match(session.assumedRoleArn, /^arn:aws:sts::\d{12}:assumed-role\/spark-etl\/corridor\.etl\.node-1$/);
  t.match(session.accessKeyId, /^ASIA/);
  t.ok(session.expiration - Date.now() > 11.9 * 3600_000, 'a 12 h session, parsed');
  t.equal(session.issuedAt, Date.UTC(2030, 0, 1));
});
