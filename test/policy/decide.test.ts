import t from 'tap';
import { decideRole, namespacePolicy, type Decision, type PolicyOptions } from '../../src/policy/index.js';
import type { NamespaceInfo, PodInfo, ServiceAccountInfo } from '../../src/kube/types.js';

const BASE = 'arn:aws:iam::123456789012:role/';
const options: PolicyOptions = {
  baseRoleArn: BASE,
  serviceAccountRoles: true,
  annotations: {
    role: 'iam.amazonaws.com/role',
    allowedRoles: 'iam.amazonaws.com/allowed-roles',
    externalId: 'iam.amazonaws.com/external-id',
    sessionPolicy: 'iam.amazonaws.com/session-policy',
    sessionPolicyArns: 'iam.amazonaws.com/session-policy-arns',
    serviceAccountRole: 'eks.amazonaws.com/role-arn',
  },
};

function pod(annotations: Record<string, string> = {}, namespace = 'gha'): PodInfo {
  return {
    uid: 'u1', name: 'spark-driver', namespace, nodeName: 'node-a', ip: '10.0.0.7', ips: ['10.0.0.7'], phase: 'Running',
    terminating: false, hostNetwork: false, serviceAccountName: 'spark', annotations,
  };
}
const ns = (annotations: Record<string, string>, name = 'gha'): NamespaceInfo => ({ name, annotations });
const sa = (annotations: Record<string, string>): ServiceAccountInfo => ({ name: 'spark', namespace: 'gha', annotations });

interface Case {
  name: string;
  pod?: Record<string, string>;
  ns?: Record<string, string> | undefined;
  sa?: Record<string, string>;
  opts?: Partial<PolicyOptions>;
  expect: { role?: string; source?: string; reason?: string; externalId?: string; message?: RegExp };
}

const cases: Case[] = [
  { name: 'the namespace default role goes to every pod of the namespace', ns: { 'iam.amazonaws.com/role': 'spark-etl' }, expect: { role: `${BASE}spark-etl`, source: 'namespace-default' } },
  { name: 'a pod picks a role the namespace allows by glob', pod: { 'iam.amazonaws.com/role': 'spark-reader' }, ns: { 'iam.amazonaws.com/allowed-roles': '["spark-*"]' }, expect: { role: `${BASE}spark-reader`, source: 'pod-annotation' } },
  { name: 'a pod annotation wins over the namespace default', pod: { 'iam.amazonaws.com/role': 'spark-writer' }, ns: { 'iam.amazonaws.com/role': 'spark-reader', 'iam.amazonaws.com/allowed-roles': '["spark-writer"]' }, expect: { role: `${BASE}spark-writer`, source: 'pod-annotation' } },
  { name: 'a pod may ask for the namespace default role explicitly', pod: { 'iam.amazonaws.com/role': 'spark-etl' }, ns: { 'iam.amazonaws.com/role': 'spark-etl' }, expect: { role: `${BASE}spark-etl`, source: 'pod-annotation' } },
  { name: 'a pod role outside the allowed list is denied', pod: { 'iam.amazonaws.com/role': 'admin' }, ns: { 'iam.amazonaws.com/allowed-roles': '["spark-*"]', 'iam.amazonaws.com/role': 'spark-etl' }, expect: { reason: 'not-allowed', message: /role admin is not allowed in namespace gha/ } },
  { name: 'a glob star does not cross a path segment', pod: { 'iam.amazonaws.com/role': 'spark-x/evil' }, ns: { 'iam.amazonaws.com/allowed-roles': '["spark-*"]' }, expect: { reason: 'not-allowed' } },
  { name: 'a full ARN glob allows roles under a path', pod: { 'iam.amazonaws.com/role': 'arn:aws:iam::123456789012:role/etl/loader' }, ns: { 'iam.amazonaws.com/allowed-roles': '["arn:aws:iam::123456789012:role/etl/*"]' }, expect: { role: 'arn:aws:iam::123456789012:role/etl/loader', source: 'pod-annotation' } },
  { name: 'a full ARN glob does not allow the same name in another account', pod: { 'iam.amazonaws.com/role': 'arn:aws:iam::999999999999:role/etl/loader' }, ns: { 'iam.amazonaws.com/allowed-roles': '["arn:aws:iam::123456789012:role/etl/*"]' }, expect: { reason: 'not-allowed' } },
  { name: 'a short name with a path resolves under the base ARN', pod: { 'iam.amazonaws.com/role': 'teams/spark-etl' }, ns: { 'iam.amazonaws.com/allowed-roles': '["teams/*"]' }, expect: { role: `${BASE}teams/spark-etl` } },
  { name: 'a pod annotation without any namespace annotation is denied', pod: { 'iam.amazonaws.com/role': 'spark-etl' }, ns: {}, expect: { reason: 'not-allowed' } },
  { name: 'no annotation anywhere is denied by default', ns: {}, expect: { reason: 'no-role' } },
  { name: 'an unknown namespace denies', ns: undefined, expect: { reason: 'unknown-namespace' } },
  { name: 'allowed-roles that is not JSON denies the namespace', ns: { 'iam.amazonaws.com/allowed-roles': 'spark-*', 'iam.amazonaws.com/role': 'spark-etl' }, expect: { reason: 'malformed-annotation', message: /not valid JSON/ } },
  { name: 'allowed-roles that is not an array of strings denies the namespace', ns: { 'iam.amazonaws.com/allowed-roles': '{"a":1}' }, expect: { reason: 'malformed-annotation', message: /array of strings/ } },
  { name: 'allowed-roles with a number inside denies the namespace', ns: { 'iam.amazonaws.com/allowed-roles': '["spark-*", 7]' }, expect: { reason: 'malformed-annotation' } },
  { name: 'allowed-roles with an invalid ARN denies the namespace', ns: { 'iam.amazonaws.com/allowed-roles': '["arn:aws:s3:::bucket"]' }, expect: { reason: 'malformed-annotation' } },
  { name: 'a namespace default role that is not a role denies the namespace', ns: { 'iam.amazonaws.com/role': 'arn:aws:iam::12:role/x' }, expect: { reason: 'malformed-annotation', message: /not an IAM role ARN/ } },
  { name: 'a bad external id denies the namespace', ns: { 'iam.amazonaws.com/role': 'spark-etl', 'iam.amazonaws.com/external-id': 'has space' }, expect: { reason: 'malformed-annotation', message: /ExternalId/ } },
  { name: 'the external id is passed with the decision', ns: { 'iam.amazonaws.com/role': 'spark-etl', 'iam.amazonaws.com/external-id': 'corridor-gha' }, expect: { role: `${BASE}spark-etl`, externalId: 'corridor-gha' } },
  { name: 'a malformed pod role annotation denies only that pod', pod: { 'iam.amazonaws.com/role': 'bad role!' }, ns: { 'iam.amazonaws.com/role': 'spark-etl' }, expect: { reason: 'malformed-annotation', message: /pod spark-driver/ } },
  { name: 'a ServiceAccount role is used when the pod has none', sa: { 'eks.amazonaws.com/role-arn': 'arn:aws:iam::123456789012:role/spark-reader' }, ns: { 'iam.amazonaws.com/allowed-roles': '["spark-*"]' }, expect: { role: `${BASE}spark-reader`, source: 'service-account' } },
  { name: 'a ServiceAccount role must still be allowed by the namespace', sa: { 'eks.amazonaws.com/role-arn': 'arn:aws:iam::123456789012:role/admin' }, ns: { 'iam.amazonaws.com/role': 'spark-etl' }, expect: { reason: 'not-allowed' } },
  { name: 'a pod annotation wins over the ServiceAccount', pod: { 'iam.amazonaws.com/role': 'spark-writer' }, sa: { 'eks.amazonaws.com/role-arn': 'arn:aws:iam::123456789012:role/spark-reader' }, ns: { 'iam.amazonaws.com/allowed-roles': '["spark-*"]' }, expect: { role: `${BASE}spark-writer` } },
  { name: 'ServiceAccount annotations are ignored unless that mode is on', sa: { 'eks.amazonaws.com/role-arn': 'arn:aws:iam::123456789012:role/spark-reader' }, ns: { 'iam.amazonaws.com/allowed-roles': '["spark-*"]', 'iam.amazonaws.com/role': 'spark-etl' }, opts: { serviceAccountRoles: false }, expect: { role: `${BASE}spark-etl`, source: 'namespace-default' } },
  // Without --base-role-arn a short name or glob names no account, so it matches nothing.
  { name: 'without a base ARN a short role name in the pod annotation is denied with no-base-role-arn', pod: { 'iam.amazonaws.com/role': 'spark-etl' }, ns: { 'iam.amazonaws.com/allowed-roles': '["spark-*"]' }, opts: { baseRoleArn: undefined }, expect: { reason: 'no-base-role-arn', message: /pod spark-driver .*"spark-etl".*set --base-role-arn or name full role ARNs/ } },
  { name: 'without a base ARN a short glob does not allow a role in another account', pod: { 'iam.amazonaws.com/role': 'arn:aws:iam::999999999999:role/spark-admin' }, ns: { 'iam.amazonaws.com/allowed-roles': '["spark-*"]' }, opts: { baseRoleArn: undefined }, expect: { reason: 'no-base-role-arn', message: /set --base-role-arn or name full role ARNs/ } },
  { name: 'without a base ARN a short glob does not allow a role in another partition', pod: { 'iam.amazonaws.com/role': 'arn:aws-iso-b:iam::222222222222:role/spark-root' }, ns: { 'iam.amazonaws.com/allowed-roles': '["spark-*"]' }, opts: { baseRoleArn: undefined }, expect: { reason: 'no-base-role-arn' } },
  { name: 'without a base ARN a short glob does not allow even a role in the agent\'s own account', pod: { 'iam.amazonaws.com/role': 'arn:aws:iam::123456789012:role/spark-etl' }, ns: { 'iam.amazonaws.com/allowed-roles': '["spark-*"]' }, opts: { baseRoleArn: undefined }, expect: { reason: 'no-base-role-arn' } },
  { name: 'without a base ARN a short exact name does not allow an ARN with that name', pod: { 'iam.amazonaws.com/role': 'arn:aws:iam::999999999999:role/spark-etl' }, ns: { 'iam.amazonaws.com/allowed-roles': '["spark-etl"]' }, opts: { baseRoleArn: undefined }, expect: { reason: 'no-base-role-arn' } },
  { name: 'without a base ARN a short namespace default role is denied with no-base-role-arn', ns: { 'iam.amazonaws.com/role': 'spark-etl' }, opts: { baseRoleArn: undefined }, expect: { reason: 'no-base-role-arn', message: /namespace gha .*"spark-etl".*set --base-role-arn or name full role ARNs/ } },
  { name: 'without a base ARN a short namespace default does not block a full ARN the namespace allows', pod: { 'iam.amazonaws.com/role': 'arn:aws:iam::123456789012:role/etl/loader' }, ns: { 'iam.amazonaws.com/role': 'spark-etl', 'iam.amazonaws.com/allowed-roles': '["arn:aws:iam::123456789012:role/etl/*"]' }, opts: { baseRoleArn: undefined }, expect: { role: 'arn:aws:iam::123456789012:role/etl/loader' } },
  { name: 'without a base ARN a short namespace default does not allow an ARN with its name', pod: { 'iam.amazonaws.com/role': 'arn:aws:iam::999999999999:role/spark-etl' }, ns: { 'iam.amazonaws.com/role': 'spark-etl' }, opts: { baseRoleArn: undefined }, expect: { reason: 'no-base-role-arn' } },
  { name: 'without a base ARN a ServiceAccount ARN is not allowed by a short glob', sa: { 'eks.amazonaws.com/role-arn': 'arn:aws:iam::999999999999:role/spark-admin' }, ns: { 'iam.amazonaws.com/allowed-roles': '["spark-*"]' }, opts: { baseRoleArn: undefined }, expect: { reason: 'no-base-role-arn' } },
  { name: 'without a base ARN a short ServiceAccount role is denied with no-base-role-arn', sa: { 'eks.amazonaws.com/role-arn': 'spark-reader' }, ns: { 'iam.amazonaws.com/allowed-roles': '["spark-*"]' }, opts: { baseRoleArn: undefined }, expect: { reason: 'no-base-role-arn', message: /serviceaccount spark / } },
  { name: 'without a base ARN a ServiceAccount ARN allowed by a full ARN glob is used', sa: { 'eks.amazonaws.com/role-arn': 'arn:aws:iam::123456789012:role/etl/loader' }, ns: { 'iam.amazonaws.com/allowed-roles': '["spark-*","arn:aws:iam::123456789012:role/etl/*"]' }, opts: { baseRoleArn: undefined }, expect: { role: 'arn:aws:iam::123456789012:role/etl/loader', source: 'service-account' } },
  { name: 'without a base ARN a full ARN in allowed-roles allows that role', pod: { 'iam.amazonaws.com/role': 'arn:aws:iam::123456789012:role/spark-etl' }, ns: { 'iam.amazonaws.com/allowed-roles': '["arn:aws:iam::123456789012:role/spark-etl"]' }, opts: { baseRoleArn: undefined }, expect: { role: 'arn:aws:iam::123456789012:role/spark-etl' } },
  { name: 'without a base ARN a full-ARN namespace default role is served', ns: { 'iam.amazonaws.com/role': 'arn:aws:iam::123456789012:role/spark-etl' }, opts: { baseRoleArn: undefined }, expect: { role: 'arn:aws:iam::123456789012:role/spark-etl', source: 'namespace-default' } },
  { name: 'without a base ARN a role no full ARN allows, in a namespace with no short names, is not-allowed', pod: { 'iam.amazonaws.com/role': 'arn:aws:iam::999999999999:role/etl/loader' }, ns: { 'iam.amazonaws.com/allowed-roles': '["arn:aws:iam::123456789012:role/etl/*"]' }, opts: { baseRoleArn: undefined }, expect: { reason: 'not-allowed' } },
  { name: 'without a base ARN a malformed short entry still denies the namespace as malformed', ns: { 'iam.amazonaws.com/allowed-roles': '["bad name!"]' }, opts: { baseRoleArn: undefined }, expect: { reason: 'malformed-annotation' } },
  // With a base ARN a short glob matches only under it: same partition, account and path prefix.
  { name: 'with a base ARN a short glob does not allow a role in another account', pod: { 'iam.amazonaws.com/role': 'arn:aws:iam::999999999999:role/spark-admin' }, ns: { 'iam.amazonaws.com/allowed-roles': '["spark-*"]' }, expect: { reason: 'not-allowed' } },
  { name: 'with a base ARN a short glob does not allow a role in another partition', pod: { 'iam.amazonaws.com/role': 'arn:aws-iso-b:iam::123456789012:role/spark-root' }, ns: { 'iam.amazonaws.com/allowed-roles': '["spark-*"]' }, expect: { reason: 'not-allowed' } },
  { name: 'with a base ARN a short glob allows the full ARN under the base', pod: { 'iam.amazonaws.com/role': `${BASE}spark-admin` }, ns: { 'iam.amazonaws.com/allowed-roles': '["spark-*"]' }, expect: { role: `${BASE}spark-admin` } },
  { name: 'with a base ARN a ServiceAccount ARN in another account is not allowed by a short glob', sa: { 'eks.amazonaws.com/role-arn': 'arn:aws:iam::999999999999:role/spark-admin' }, ns: { 'iam.amazonaws.com/allowed-roles': '["spark-*"]' }, expect: { reason: 'not-allowed' } },
  { name: 'with a base ARN and a path a short glob does not allow the same name outside the path', pod: { 'iam.amazonaws.com/role': 'arn:aws:iam::123456789012:role/spark-admin' }, ns: { 'iam.amazonaws.com/allowed-roles': '["spark-*"]' }, opts: { baseRoleArn: `${BASE}teams/` }, expect: { reason: 'not-allowed' } },
  { name: 'with a base ARN and a path a short glob does not allow a longer path', pod: { 'iam.amazonaws.com/role': 'arn:aws:iam::123456789012:role/teams/x/spark-admin' }, ns: { 'iam.amazonaws.com/allowed-roles': '["spark-*"]' }, opts: { baseRoleArn: `${BASE}teams/` }, expect: { reason: 'not-allowed' } },
  { name: 'with a base ARN and a path a short glob allows roles on that path', pod: { 'iam.amazonaws.com/role': 'spark-admin' }, ns: { 'iam.amazonaws.com/allowed-roles': '["spark-*"]' }, opts: { baseRoleArn: `${BASE}teams/` }, expect: { role: `${BASE}teams/spark-admin` } },
  { name: 'a China-partition ARN passes through', ns: { 'iam.amazonaws.com/role': 'arn:aws-cn:iam::123456789012:role/spark' }, expect: { role: 'arn:aws-cn:iam::123456789012:role/spark' } },
];

for (const c of cases) {
  t.test(c.name, async (t) => {
    const decision: Decision = decideRole(
      { pod: pod(c.pod), namespace: c.ns === undefined ? undefined : ns(c.ns), serviceAccount: c.sa ? sa(c.sa) : undefined },
      { ...options, ...c.opts },
    );
    if (c.expect.reason) {
      t.equal(decision.allowed, false);
      if (!decision.allowed) {
        t.equal(decision.reason, c.expect.reason);
        if (c.expect.message) t.match(decision.message, c.expect.message);
      }
    } else {
      t.equal(decision.allowed, true, decision.allowed ? '' : decision.message);
      if (decision.allowed) {
        t.equal(decision.role.arn, c.expect.role);
        t.equal(decision.role.name, c.expect.role?.slice(c.expect.role.lastIndexOf('/') + 1));
        t.equal(decision.role.accountId, '123456789012');
        if (c.expect.source) t.equal(decision.source, c.expect.source);
        if (c.expect.externalId) t.equal(decision.externalId, c.expect.externalId);
      }
    }
  });
}

t.test('a deny message never names the roles another namespace allows', async (t) => {
  const decision = decideRole(
    { pod: pod({ 'iam.amazonaws.com/role': 'admin' }), namespace: ns({ 'iam.amazonaws.com/allowed-roles': '["secret-team-role"]' }), serviceAccount: undefined },
    options,
  );
  t.equal(decision.allowed, false);
  if (!decision.allowed) t.notMatch(decision.message, /secret-team-role/);
});

t.test('namespacePolicy lists the allowed-roles entries as the full-ARN globs decideRole matches', async (t) => {
  const policy = namespacePolicy(ns({ 'iam.amazonaws.com/allowed-roles': '[" spark-*","/teams/etl","arn:aws:iam::999999999999:role/x-*"]' }), options);
  t.same(policy.allowedPatterns, [`${BASE}spark-*`, `${BASE}teams/etl`, 'arn:aws:iam::999999999999:role/x-*']);
  t.ok(policy.allows({ arn: `${BASE}spark-etl`, name: 'spark-etl', accountId: '123456789012' }));
  t.same(namespacePolicy(ns({ 'iam.amazonaws.com/allowed-roles': '["spark-*"]' }), { ...options, baseRoleArn: undefined }).allowedPatterns, [], 'short entries without a base ARN stand for no role');
});
