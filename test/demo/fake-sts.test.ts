import t, { type Test } from 'tap';
import { AssumeRoleError, createStsAssumer, type AssumeRequest } from '../../src/credentials/index.js';
import { startFakeSts, type FakeSts } from '../../demo/index.js';
import { MOTO_CREDENTIALS } from '../helpers/moto.js';

// The STS stand-in takes session policies as STS does, and refuses them as STS does.
const REQUEST: AssumeRequest = { roleArn: 'arn:aws:iam::123456789012:role/corridor-s3', roleSessionName: 'corridor.gha.demo-node', durationSeconds: 3600 };
const POLICY = '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":["arn:aws:s3:::gha-*","arn:aws:s3:::gha-*/*"]}]}';
const ARNS = ['arn:aws:iam::123456789012:policy/gha-logs', 'arn:aws:iam::aws:policy/ReadOnlyAccess'];

async function stsFor(t: Test): Promise<{ sts: FakeSts; assume: (request: AssumeRequest) => Promise<unknown> }> {
  const sts = await startFakeSts();
  const assumer = createStsAssumer({ region: 'us-east-1', endpoint: sts.url, env: {}, credentials: MOTO_CREDENTIALS, requestTimeoutMs: 5_000 });
  t.teardown(async () => {
    assumer.close();
    await sts.close();
  });
  return {
    sts,
    assume: async (request) => {
      try {
        return await assumer.assume(request);
      } catch (error) {
        return error;
      }
    },
  };
}

/** A valid policy whose text is exactly `length` characters. */
function policyOfLength(length: number): string {
  const empty = JSON.stringify({ Version: '2012-10-17', Statement: { Effect: 'Allow', Action: 's3:GetObject', Resource: '' } });
  return JSON.stringify({ Version: '2012-10-17', Statement: { Effect: 'Allow', Action: 's3:GetObject', Resource: 'x'.repeat(length - empty.length) } });
}

t.test('the stand-in records Policy and PolicyArns.member.N.arn as the STS adapter sends them', async (t) => {
  const { sts, assume } = await stsFor(t);
  const session = await assume({ ...REQUEST, policy: POLICY, policyArns: ARNS });
  t.match(session, { assumedRoleArn: 'arn:aws:sts::123456789012:assumed-role/corridor-s3/corridor.gha.demo-node' });
  await assume(REQUEST);
  t.match(sts.assumeCalls, [
    { roleArn: REQUEST.roleArn, policy: POLICY, policyArns: ARNS },
    { roleArn: REQUEST.roleArn, policy: undefined, policyArns: undefined },
  ]);
});

t.test('the stand-in refuses session policies over 2048 characters like STS, and accepts exactly 2048', async (t) => {
  const { assume } = await stsFor(t);
  t.match(await assume({ ...REQUEST, policy: policyOfLength(2048) }), { accessKeyId: /^ASIA/ }, 'exactly 2048 is accepted');
  const long = await assume({ ...REQUEST, policy: policyOfLength(2049) });
  t.ok(long instanceof AssumeRoleError);
  t.match(long, { code: 'ValidationError', retryable: false, message: /policy.*less than or equal to 2048/ });
  const together = await assume({ ...REQUEST, policy: policyOfLength(2048 - ARNS[0]!.length + 1), policyArns: [ARNS[0]!] });
  t.match(together, { code: 'PackedPolicyTooLarge', retryable: false }, 'the policy and the ARNs count together');
  const many = await assume({ ...REQUEST, policyArns: Array.from({ length: 11 }, (_, i) => `arn:aws:iam::123456789012:policy/p${i}`) });
  t.match(many, { code: 'ValidationError', message: /policyArns/ });
});
