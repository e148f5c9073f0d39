import t from 'tap';
import { readFileSync } from 'node:fs';
import { parseAllDocuments } from 'yaml';
import { decideRole, type PolicyOptions } from '../../src/policy/index.js';
import type { NamespaceInfo, PodInfo } from '../../src/kube/types.js';

// Session policies narrow one role per corridor.
const BASE = 'arn:aws:iam::123456789012:role/';
const POLICY_KEY = 'iam.amazonaws.com/session-policy';
const ARNS_KEY = 'iam.amazonaws.com/session-policy-arns';
const options: PolicyOptions = {
  baseRoleArn: BASE,
  serviceAccountRoles: false,
  annotations: {
    role: 'iam.amazonaws.com/role',
    allowedRoles: 'iam.amazonaws.com/allowed-roles',
    externalId: 'iam.amazonaws.com/external-id',
    sessionPolicy: POLICY_KEY,
    sessionPolicyArns: ARNS_KEY,
    serviceAccountRole: 'eks.amazonaws.com/role-arn',
  },
};

const pod = (namespace = 'gha'): PodInfo => ({
  uid: 'u1', name: 'runner', namespace, nodeName: 'node-a', ip: '10.0.0.7', ips: ['10.0.0.7'], phase: 'Running',
  terminating: false, hostNetwork: false, serviceAccountName: 'default', annotations: {},
});
const ns = (annotations: Record<string, string>, name = 'gha'): NamespaceInfo => ({ name, annotations: { 'iam.amazonaws.com/role': 'corridor-s3', ...annotations } });
const decide = (annotations: Record<string, string>, name = 'gha') => decideRole({ pod: pod(name), namespace: ns(annotations, name), serviceAccount: undefined }, options);

/** The bucket-prefix policy of docs/corridor-admins.md, written the way people write it: indented, over several lines. */
function bucketPolicy(prefix: string): string {
  return JSON.stringify(
    { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 's3:*', Resource: [`arn:aws:s3:::${prefix}-*`, `arn:aws:s3:::${prefix}-*/*`] }] },
    null,
    2,
  );
}
const GHA_COMPACT = '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":["arn:aws:s3:::gha-*","arn:aws:s3:::gha-*/*"]}]}';
const arn = (name: string, account = '123456789012') => `arn:aws:iam::${account}:policy/${name}`;
/** A valid policy whose compact JSON is exactly `length` characters. */
function policyOfLength(length: number): string {
  const empty = JSON.stringify({ Version: '2012-10-17', Statement: { Effect: 'Allow', Action: 's3:GetObject', Resource: '' } });
  return JSON.stringify({ Version: '2012-10-17', Statement: { Effect: 'Allow', Action: 's3:GetObject', Resource: 'x'.repeat(length - empty.length) } });
}

interface Case {
  name: string;
  ns: Record<string, string>;
  expect: { sessionPolicy?: string | undefined; policyArns?: readonly string[] | undefined } | { message: RegExp };
}

const cases: Case[] = [
  { name: 'without session policy annotations the decision carries none', ns: {}, expect: { sessionPolicy: undefined, policyArns: undefined } },
  { name: 'an inline policy is normalised to compact JSON (no whitespace, no newline)', ns: { [POLICY_KEY]: bucketPolicy('gha') }, expect: { sessionPolicy: GHA_COMPACT, policyArns: undefined } },
  { name: 'a Statement that is a single object is accepted', ns: { [POLICY_KEY]: '{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:ListBucket","Resource":"arn:aws:s3:::gha-cache"}}' }, expect: { sessionPolicy: '{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:ListBucket","Resource":"arn:aws:s3:::gha-cache"}}' } },
  { name: 'a newline inside a policy string stays escaped after normalising', ns: { [POLICY_KEY]: '{"Version":"2012-10-17","Statement":[{"Sid":"a\\nb","Effect":"Allow","Action":"s3:*","Resource":"*"}]}' }, expect: { sessionPolicy: '{"Version":"2012-10-17","Statement":[{"Sid":"a\\nb","Effect":"Allow","Action":"s3:*","Resource":"*"}]}' } },
  { name: 'managed policy ARNs keep their order, trimmed', ns: { [ARNS_KEY]: `[" ${arn('gha-buckets')} ", "arn:aws:iam::aws:policy/ReadOnlyAccess", "${arn('teams/ci/gha-logs')}"]` }, expect: { policyArns: [arn('gha-buckets'), 'arn:aws:iam::aws:policy/ReadOnlyAccess', arn('teams/ci/gha-logs')] } },
  { name: 'duplicate ARNs are dropped, the first one keeps its place', ns: { [ARNS_KEY]: JSON.stringify([arn('b'), arn('a'), arn('b'), arn('a')]) }, expect: { policyArns: [arn('b'), arn('a')] } },
  { name: 'an empty ARN array means no managed session policies', ns: { [ARNS_KEY]: '[]' }, expect: { policyArns: undefined } },
  { name: 'GovCloud and China partition policy ARNs are accepted', ns: { [ARNS_KEY]: '["arn:aws-us-gov:iam::123456789012:policy/a","arn:aws-cn:iam::aws:policy/b"]' }, expect: { policyArns: ['arn:aws-us-gov:iam::123456789012:policy/a', 'arn:aws-cn:iam::aws:policy/b'] } },
  { name: 'both annotations together', ns: { [POLICY_KEY]: bucketPolicy('gha'), [ARNS_KEY]: JSON.stringify([arn('gha-logs')]) }, expect: { sessionPolicy: GHA_COMPACT, policyArns: [arn('gha-logs')] } },
  { name: 'exactly 2048 characters of compact JSON are accepted', ns: { [POLICY_KEY]: policyOfLength(2048) }, expect: { sessionPolicy: policyOfLength(2048) } },
  { name: 'an indented policy over 2048 characters whose compact JSON fits is accepted', ns: { [POLICY_KEY]: JSON.stringify(JSON.parse(policyOfLength(2000)), null, 8).replace(/\n/g, '\n' + ' '.repeat(100)) }, expect: { sessionPolicy: policyOfLength(2000) } },
  { name: 'exactly 10 distinct ARNs are accepted', ns: { [ARNS_KEY]: JSON.stringify(Array.from({ length: 10 }, (_, i) => arn(`p${i}`))) }, expect: { policyArns: Array.from({ length: 10 }, (_, i) => arn(`p${i}`)) } },
  { name: '12 ARNs of which 10 are distinct are accepted', ns: { [ARNS_KEY]: JSON.stringify([...Array.from({ length: 10 }, (_, i) => arn(`p${i}`)), arn('p0'), arn('p1')]) }, expect: { policyArns: Array.from({ length: 10 }, (_, i) => arn(`p${i}`)) } },

  { name: 'an inline policy that is not JSON denies the namespace', ns: { [POLICY_KEY]: "{Version: '2012-10-17'}" }, expect: { message: /iam\.amazonaws\.com\/session-policy: not valid JSON/ } },
  { name: 'an inline policy that is a JSON array denies the namespace', ns: { [POLICY_KEY]: '[{"Version":"2012-10-17"}]' }, expect: { message: /session-policy: expected a JSON object/ } },
  { name: 'an inline policy that is a JSON string denies the namespace', ns: { [POLICY_KEY]: '"s3:*"' }, expect: { message: /session-policy: expected a JSON object/ } },
  { name: 'an inline policy without Version denies the namespace', ns: { [POLICY_KEY]: '{"Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"}]}' }, expect: { message: /session-policy: Version must be "2012-10-17"/ } },
  { name: 'an inline policy with an unknown Version denies the namespace', ns: { [POLICY_KEY]: '{"Version":"2024-01-01","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"}]}' }, expect: { message: /session-policy: Version/ } },
  { name: 'an inline policy without Statement denies the namespace', ns: { [POLICY_KEY]: '{"Version":"2012-10-17"}' }, expect: { message: /session-policy: Statement must be/ } },
  { name: 'an inline policy with an empty Statement array denies the namespace', ns: { [POLICY_KEY]: '{"Version":"2012-10-17","Statement":[]}' }, expect: { message: /session-policy: Statement must be/ } },
  { name: 'an inline policy with a string Statement denies the namespace', ns: { [POLICY_KEY]: '{"Version":"2012-10-17","Statement":"allow all"}' }, expect: { message: /session-policy: Statement must be/ } },
  { name: 'an inline policy of 2049 characters of compact JSON denies the namespace', ns: { [POLICY_KEY]: policyOfLength(2049) }, expect: { message: /iam\.amazonaws\.com\/session-policy: 2049 characters as compact JSON, over STS's 2048/ } },
  { name: 'an inline policy with characters STS refuses denies the namespace', ns: { [POLICY_KEY]: '{"Version":"2012-10-17","Statement":[{"Sid":"桶","Effect":"Allow","Action":"s3:*","Resource":"*"}]}' }, expect: { message: /session-policy: contains characters STS does not accept/ } },
  { name: 'policy and ARNs over 2048 characters together deny the namespace', ns: { [POLICY_KEY]: policyOfLength(2049 - arn('gha-logs').length), [ARNS_KEY]: JSON.stringify([arn('gha-logs')]) }, expect: { message: /session-policy and iam\.amazonaws\.com\/session-policy-arns: 2049 characters together/ } },
  { name: 'policy and ARNs of exactly 2048 characters together are accepted', ns: { [POLICY_KEY]: policyOfLength(2048 - arn('gha-logs').length), [ARNS_KEY]: JSON.stringify([arn('gha-logs')]) }, expect: { sessionPolicy: policyOfLength(2048 - arn('gha-logs').length), policyArns: [arn('gha-logs')] } },
  { name: 'ARNs that are not JSON deny the namespace', ns: { [ARNS_KEY]: arn('gha-buckets') }, expect: { message: /session-policy-arns: not valid JSON/ } },
  { name: 'ARNs that are not an array of strings deny the namespace', ns: { [ARNS_KEY]: `{"arn":"${arn('a')}"}` }, expect: { message: /session-policy-arns: expected a JSON array of managed policy ARNs/ } },
  { name: 'a role ARN among the policy ARNs denies the namespace', ns: { [ARNS_KEY]: `["${BASE}corridor-s3"]` }, expect: { message: /session-policy-arns: "arn:aws:iam::123456789012:role\/corridor-s3" is not a managed policy ARN/ } },
  { name: 'a policy ARN with a bad account denies the namespace', ns: { [ARNS_KEY]: '["arn:aws:iam::1234:policy/a"]' }, expect: { message: /is not a managed policy ARN/ } },
  { name: 'a wildcard policy ARN denies the namespace', ns: { [ARNS_KEY]: `["${arn('gha-*')}"]` }, expect: { message: /is not a managed policy ARN/ } },
  { name: 'more than 10 distinct ARNs deny the namespace', ns: { [ARNS_KEY]: JSON.stringify(Array.from({ length: 11 }, (_, i) => arn(`p${i}`))) }, expect: { message: /session-policy-arns: 11 distinct ARNs, over STS's 10/ } },
];

for (const c of cases) {
  t.test(c.name, async (t) => {
    const decision = decide(c.ns);
    if ('message' in c.expect) {
      t.equal(decision.allowed, false);
      if (!decision.allowed) {
        t.equal(decision.reason, 'malformed-annotation');
        t.match(decision.message, /^namespace gha has a malformed annotation: /);
        t.match(decision.message, c.expect.message);
        t.ok(decision.message.length < 400, 'the message stays one readable line');
      }
      return;
    }
    t.equal(decision.allowed, true, decision.allowed ? '' : decision.message);
    if (!decision.allowed) return;
    t.equal(decision.role.arn, `${BASE}corridor-s3`);
    if ('sessionPolicy' in c.expect) t.equal(decision.sessionPolicy, c.expect.sessionPolicy);
    if ('policyArns' in c.expect) t.same(decision.policyArns, c.expect.policyArns);
    if (decision.sessionPolicy !== undefined) {
      t.notMatch(decision.sessionPolicy, /[\n\r]/, 'no raw newline, so the cache key join stays unambiguous');
      t.ok(decision.sessionPolicy.length <= 2048);
    }
  });
}

t.test('a malformed session policy denies only its own namespace; the same role elsewhere is unaffected', async (t) => {
  const broken = decide({ [POLICY_KEY]: '{not json' }, 'gha');
  const fine = decide({ [POLICY_KEY]: bucketPolicy('gha1') }, 'gha1');
  t.match(broken, { allowed: false, reason: 'malformed-annotation' });
  t.match(fine, { allowed: true, sessionPolicy: GHA_COMPACT.replace(/gha-/g, 'gha1-') });
});

t.test('a pod-chosen role gets its namespace\'s session policy too', async (t) => {
  const decision = decideRole(
    {
      pod: { ...pod(), annotations: { 'iam.amazonaws.com/role': 'corridor-s3-writer' } },
      namespace: ns({ 'iam.amazonaws.com/allowed-roles': '["corridor-s3-*"]', [POLICY_KEY]: bucketPolicy('gha'), [ARNS_KEY]: JSON.stringify([arn('gha-logs')]) }),
      serviceAccount: undefined,
    },
    options,
  );
  t.match(decision, { allowed: true, source: 'pod-annotation', sessionPolicy: GHA_COMPACT, policyArns: [arn('gha-logs')] });
});

t.test('the annotation keys are the configured ones', async (t) => {
  const custom: PolicyOptions = { ...options, annotations: { ...options.annotations, sessionPolicy: 'example.com/policy', sessionPolicyArns: 'example.com/policy-arns' } };
  const decision = decideRole({ pod: pod(), namespace: ns({ 'example.com/policy': bucketPolicy('gha'), [POLICY_KEY]: '{not json' }), serviceAccount: undefined }, custom);
  t.match(decision, { allowed: true, sessionPolicy: GHA_COMPACT }, 'the default key is ignored once another is configured');
  const bad = decideRole({ pod: pod(), namespace: ns({ 'example.com/policy-arns': '["nope"]' }), serviceAccount: undefined }, custom);
  t.match(bad, { allowed: false, reason: 'malformed-annotation', message: /example\.com\/policy-arns: "nope" is not a managed policy ARN/ });
});

t.test('the corridor admins\' page\'s bucket-prefix example is accepted as written, and narrows gha and gha1 to their own prefixes', async (t) => {
  const page = readFileSync(new URL('../../docs/corridor-admins.md', import.meta.url), 'utf8');
  const section = page.slice(page.indexOf('### One role, several corridors'));
  const block = /```yaml\n([\s\S]*?)```/.exec(section)?.[1] ?? '';
  const namespaces = parseAllDocuments(block).map((d) => d.toJS() as { metadata: { name: string; annotations: Record<string, string> } });
  t.same(namespaces.map((n) => n.metadata.name), ['gha', 'gha1']);
  for (const n of namespaces) {
    const decision = decideRole({ pod: pod(n.metadata.name), namespace: { name: n.metadata.name, annotations: n.metadata.annotations }, serviceAccount: undefined }, options);
    t.match(decision, { allowed: true, role: { arn: `${BASE}corridor-s3` } }, n.metadata.name);
    if (decision.allowed) t.same(JSON.parse(decision.sessionPolicy ?? '{}').Statement[0].Resource, [`arn:aws:s3:::${n.metadata.name}-*`, `arn:aws:s3:::${n.metadata.name}-*/*`]);
  }
});
