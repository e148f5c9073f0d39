import t from 'tap';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ApiException, CoreV1Api, KubernetesObjectApi, PatchStrategy, type KubernetesObject } from '@kubernetes/client-node';
import type { Test } from 'tap';
import { parseAllDocuments } from 'yaml';
import { decideRole, type PolicyOptions } from '../../src/policy/index.js';
import { findHelm, renderChart, type K8sObject } from '../helpers/helm.js';
import { controlPlaneBinaries, startControlPlane, type ControlPlane } from '../helpers/kube-apiserver.js';
import { ROOT } from '../helpers/peers.js';

/**
 * The chart's ValidatingAdmissionPolicy on a real kube-apiserver (built from k8s.io/kubernetes,
 * on etcd), against the agent's own decideRole: for every case of the table the API server's
 * answer and the agent's decision agree, or the policy is stricter (refuses what the agent
 * allows) in one of the ways docs/admission-policy.md lists. It is never looser. Requests are dry runs
 * (admission runs, nothing is stored), in namespaces created before the policy, so that pods of
 * namespaces the policy would refuse can be tried too.
 */

const VAP = 'admissionregistration.k8s.io/v1/ValidatingAdmissionPolicy';
const ACCOUNT = '123456789012';
const ARN = (name: string, account = ACCOUNT) => `arn:aws:iam::${account}:role/${name}`;
const BASE = ARN('');
const KEYS = { role: 'iam.amazonaws.com/role', allowedRoles: 'iam.amazonaws.com/allowed-roles', externalId: 'iam.amazonaws.com/external-id', serviceAccountRole: 'eks.amazonaws.com/role-arn', sessionPolicy: 'iam.amazonaws.com/session-policy', sessionPolicyArns: 'iam.amazonaws.com/session-policy-arns' };

/** The ways the policy may be stricter than the agent; docs/admission-policy.md lists each. */
const KNOWN_DIFFERENCES = {
  'json-escapes': 'an allowed-roles, session-policy or session-policy-arns string with a JSON escape sequence',
  'unicode-whitespace': 'whitespace other than ASCII around a role, an allowed-roles entry or a policy ARN',
  'size-cap': 'an allowed-roles annotation longer than 65536 characters',
  'policy-nesting': 'a session-policy nested deeper than a Condition block (or with arrays of arrays or objects in a statement)',
  'policy-numbers': 'a session-policy number other than an integer of at most 15 digits',
  'policy-keys': 'a session-policy with other top-level keys, Version neither first nor last, Version or Statement keys elsewhere, or duplicate keys',
  'policy-raw-size': 'a session-policy counted as written, whitespace included, towards the 2048 characters',
  'duplicate-arns': 'a session-policy-arns list of more than 10 entries counting duplicates',
} as const;
type Difference = keyof typeof KNOWN_DIFFERENCES;

/** docs/corridor-admins.md's session-policy example (namespace gha of "One role, several corridors"), as written there. */
function documentedSessionPolicy(): string {
  const block = /```yaml\n([^`]*iam\.amazonaws\.com\/session-policy[^`]*)```/.exec(readFileSync(join(ROOT, 'docs', 'corridor-admins.md'), 'utf8'))?.[1];
  const gha = parseAllDocuments(block ?? '')
    .map((d) => d.toJS() as { metadata?: { name?: string; annotations?: Record<string, string> } })
    .find((d) => d.metadata?.name === 'gha');
  const policy = gha?.metadata?.annotations?.[KEYS.sessionPolicy];
  if (policy === undefined) throw new Error('docs/corridor-admins.md has no session-policy example for namespace gha');
  return policy;
}

/** A compact policy of exactly `size` characters (its Sid pads it). */
function policyOfSize(size: number): string {
  const text = (sid: string) => JSON.stringify({ Version: '2012-10-17', Statement: { Sid: sid, Effect: 'Allow', Action: 's3:*', Resource: '*' } });
  return text('x'.repeat(size - text('').length));
}

const POLICY_ARN = (name: string, account = ACCOUNT) => `arn:aws:iam::${account}:policy/${name}`;
const SP = (policy: string) => ({ [KEYS.sessionPolicy]: policy, [KEYS.role]: ARN('app') });
const SPA = (arns: string) => ({ [KEYS.sessionPolicyArns]: arns, [KEYS.role]: ARN('app') });
const POLICY = '{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:*","Resource":"*"}}';
const CONDITION = JSON.stringify(
  {
    Version: '2012-10-17',
    Id: 'gha-home',
    Statement: [
      { Sid: 'ListHome', Effect: 'Allow', Action: 's3:ListBucket', Resource: 'arn:aws:s3:::gha-home', Condition: { StringLike: { 's3:prefix': ['home/${aws:username}/*'] }, Bool: { 'aws:SecureTransport': true }, NumericLessThanEquals: { 's3:max-keys': 1000 } } },
      { Effect: 'Deny', NotAction: ['s3:Get*', 's3:List*'], Resource: '*' },
    ],
  },
  null,
  2,
);
const SORTED = '{"Statement":[{"Action":"s3:*","Effect":"Allow","Resource":"*"}],"Version":"2012-10-17"}';
const LOGS = POLICY_ARN('gha-logs');

/** Namespaces of the table, by name: their annotations. */
const NAMESPACES: Record<string, Record<string, string>> = {
  plain: {},
  spark: { [KEYS.role]: 'spark-etl', [KEYS.allowedRoles]: `["spark-*", "${ARN('etl/*')}"]` },
  'arn-default': { [KEYS.role]: ARN('app') },
  spaced: { [KEYS.role]: '  /spark-etl\n', [KEYS.allowedRoles]: ' [ "spark-*" ,\n\t"  reports " ]\r\n' },
  empty: { [KEYS.allowedRoles]: '[ ]' },
  literal: { [KEYS.allowedRoles]: '["team.a+b", "/teams/*"]' },
  star: { [KEYS.allowedRoles]: '["*"]' },
  partition: { [KEYS.allowedRoles]: `["arn:aws-*:iam::${ACCOUNT}:role/gov"]` },
  'external-id': { [KEYS.role]: 'spark-etl', [KEYS.externalId]: 'tenant-42:a/b' },
  'short-default': { [KEYS.role]: 'app' },
  // Long lists cost more CEL: within the API server's budget?
  many: { [KEYS.allowedRoles]: JSON.stringify([...Array.from({ length: 300 }, (_, i) => `team-${i}/*`), 'spark-*']) },
  long: { [KEYS.allowedRoles]: JSON.stringify([...Array.from({ length: 1400 }, (_, i) => `arn:aws:iam::${ACCOUNT}:role/team-${i}/*`), 'spark-*']) },
  dense: { [KEYS.allowedRoles]: JSON.stringify(Array.from({ length: 7000 }, (_, i) => `x${i}*`)) },
  huge: { [KEYS.allowedRoles]: JSON.stringify([...Array.from({ length: 1500 }, (_, i) => `arn:aws:iam::${ACCOUNT}:role/team-${i}/*`), 'spark-*']) },
  // Malformed: the agent denies every pod of these.
  'bad-json': { [KEYS.allowedRoles]: '["spark-*"' },
  'trailing-comma': { [KEYS.allowedRoles]: '["spark-*",]' },
  'not-array': { [KEYS.allowedRoles]: '"spark-*"' },
  'not-strings': { [KEYS.allowedRoles]: '["spark-*", 1]' },
  'json-null': { [KEYS.allowedRoles]: 'null' },
  'bad-entry-arn': { [KEYS.allowedRoles]: '["arn:aws:iam::12:role/x"]' },
  'bad-entry-space': { [KEYS.allowedRoles]: '["spark etl"]' },
  'bad-entry-empty': { [KEYS.allowedRoles]: '[""]' },
  'bad-entry-long': { [KEYS.allowedRoles]: `["${'a'.repeat(65)}"]` },
  'bad-role': { [KEYS.role]: 'arn:aws:s3:::bucket', [KEYS.allowedRoles]: '["spark-*"]' },
  'bad-external-id-short': { [KEYS.role]: 'spark-etl', [KEYS.externalId]: 'x' },
  'bad-external-id-long': { [KEYS.role]: 'spark-etl', [KEYS.externalId]: 'e'.repeat(1225) },
  'bad-external-id-chars': { [KEYS.role]: 'spark-etl', [KEYS.externalId]: 'tenant 42' },
  // Session policies: well-formed ones, within the grammar the policy reads.
  'sp-docs-example': SP(documentedSessionPolicy()),
  'sp-condition': SP(CONDITION),
  'sp-sorted': SP(SORTED),
  'sp-2008': SP(POLICY.replace('2012-10-17', '2008-10-17')),
  'sp-id-first': SP('{"Id":"a","Version":"2012-10-17","Statement":{}}'),
  'sp-latin1': SP(POLICY.replace('"*"}', '"arn:aws:s3:::café-\x7f"}')),
  'sp-max': SP(policyOfSize(2048)),
  'sp-arns-fit': { ...SP(policyOfSize(2048 - LOGS.length)), [KEYS.sessionPolicyArns]: JSON.stringify([LOGS, LOGS]) },
  'arns-ok': SPA(`["${LOGS}", " arn:aws:iam::aws:policy/ReadOnlyAccess "]`),
  'arns-path': SPA(`[\n  "arn:aws-us-gov:iam::${ACCOUNT}:policy/teams/gha/${'p'.repeat(128)}"\n]`),
  'arns-empty': SPA('[]'),
  'arns-dup': SPA(JSON.stringify([LOGS, LOGS, POLICY_ARN('b'), LOGS])),
  'arns-ten': SPA(JSON.stringify(Array.from({ length: 10 }, (_, i) => POLICY_ARN(`p${i}`)))),
  'arns-spacious': SPA(`[${' '.repeat(100_000)}"${LOGS}"]`),
  // Malformed session policies: the agent denies every pod of these.
  'sp-bad-json': SP('{"Version":"2012-10-17","Statement":{}'),
  'sp-trailing-comma': SP('{"Version":"2012-10-17","Statement":{},}'),
  'sp-missing-comma': SP('{"Version":"2012-10-17" "Statement":{}}'),
  'sp-not-object': SP(`[${POLICY}]`),
  'sp-wrong-version': SP(POLICY.replace('2012-10-17', '2012-10-18')),
  'sp-no-version': SP('{"Statement":{}}'),
  'sp-no-statement': SP('{"Version":"2012-10-17"}'),
  'sp-empty-statements': SP('{"Version":"2012-10-17","Statement":[]}'),
  'sp-string-statement': SP('{"Version":"2012-10-17","Statement":[{}, "Allow"]}'),
  'sp-inner-version': SP('{"Statement":{"Version":"2012-10-17"}}'),
  'sp-inner-statement': SP('{"Version":"2012-10-17","Sid":{"Statement":{}}}'),
  'sp-last-statement-empty': SP('{"Version":"2012-10-17","Statement":{},"Statement":[]}'),
  'sp-last-version-wrong': SP('{"Version":"2012-10-17","Statement":{},"Version":"2012-10-18"}'),
  'sp-oversized': SP(policyOfSize(2049)),
  'sp-arns-over': { ...SP(policyOfSize(2049 - LOGS.length)), [KEYS.sessionPolicyArns]: JSON.stringify([LOGS]) },
  'sp-outside-charset': SP(POLICY.replace('"*"}', '"arn:aws:s3:::\u0100"}')),
  'sp-empty': SP(''),
  'arns-bad-json': SPA(`["${LOGS}"`),
  'arns-not-array': SPA(`"${LOGS}"`),
  'arns-not-strings': SPA(`["${LOGS}", 1]`),
  'arns-role-arn': SPA(`["${ARN('x')}"]`),
  'arns-bad-account': SPA('["arn:aws:iam::12:policy/x"]'),
  'arns-eleven': SPA(JSON.stringify(Array.from({ length: 11 }, (_, i) => POLICY_ARN(`p${i}`)))),
  'arns-too-long': SPA(JSON.stringify(Array.from({ length: 10 }, (_, i) => POLICY_ARN(`${'d'.repeat(200)}/${i}${'p'.repeat(127)}`)))),
  // Well-formed for the agent, refused by the policy.
  escaped: { [KEYS.allowedRoles]: '["spark-\\u002a"]' },
  nbsp: { [KEYS.allowedRoles]: '["\u00a0spark-*"]' },
  'sp-escapes': SP(POLICY.replace('"*"}', '"arn:aws:s3:::gha-\\u002a"}')),
  'sp-nested': SP('{"Version":"2012-10-17","Statement":{"Effect":"Allow","Resource":[["*"]]}}'),
  'sp-numbers': SP('{"Version":"2012-10-17","Statement":{"Condition":{"NumericLessThan":{"s3:max-keys":1.5}}}}'),
  'sp-version-middle': SP('{"Statement":{},"Version":"2012-10-17","Id":"a"}'),
  'sp-duplicate-version': SP('{"Version":"2012-10-18","Statement":{},"Version":"2012-10-17"}'),
  'sp-extra-key': SP(`{"Version":"2012-10-17","Statement":{},"Comment":"gha"}`),
  'sp-padded': SP(JSON.stringify(JSON.parse(policyOfSize(2040)), null, 4)),
  'arns-escaped': SPA('["arn:aws:iam::aws:policy\\/ReadOnlyAccess"]'),
  'arns-nbsp': SPA('["\u00a0arn:aws:iam::aws:policy/ReadOnlyAccess"]'),
  'arns-dup-eleven': SPA(JSON.stringify([...Array.from({ length: 10 }, (_, i) => POLICY_ARN(`p${i}`)), POLICY_ARN('p0')])),
};

/** The difference that makes the policy refuse a namespace the agent accepts. */
const NAMESPACE_DIFFERENCES: Record<string, Difference> = {
  escaped: 'json-escapes',
  nbsp: 'unicode-whitespace',
  huge: 'size-cap',
  'sp-escapes': 'json-escapes',
  'sp-nested': 'policy-nesting',
  'sp-numbers': 'policy-numbers',
  'sp-version-middle': 'policy-keys',
  'sp-duplicate-version': 'policy-keys',
  'sp-extra-key': 'policy-keys',
  'sp-padded': 'policy-raw-size',
  'arns-escaped': 'json-escapes',
  'arns-nbsp': 'unicode-whitespace',
  'arns-dup-eleven': 'duplicate-arns',
};

interface Config {
  name: string;
  set: Record<string, string | boolean>;
  options: PolicyOptions;
}

const WITH_BASE: Config = {
  name: 'base ARN, ServiceAccount roles',
  set: { 'agent.baseRoleArn': BASE, 'agent.serviceAccountRoles': true },
  options: { annotations: KEYS, baseRoleArn: BASE, serviceAccountRoles: true },
};
const WITHOUT_BASE: Config = {
  name: 'no base ARN',
  set: { 'agent.baseRoleArn': '', 'agent.serviceAccountRoles': false },
  options: { annotations: KEYS, baseRoleArn: undefined, serviceAccountRoles: false },
};

interface ObjectCase {
  kind: 'Pod' | 'ServiceAccount';
  namespace: string;
  role: string;
  stricter?: Difference;
}

const pod = (namespace: string, role: string, stricter?: Difference): ObjectCase => ({ kind: 'Pod', namespace, role, ...(stricter ? { stricter } : {}) });
const serviceAccount = (namespace: string, role: string): ObjectCase => ({ kind: 'ServiceAccount', namespace, role });

/** Pods (and ServiceAccounts) of the table: each is tried under both configurations. */
const OBJECTS: ObjectCase[] = [
  pod('spark', 'spark-etl'),
  pod('spark', 'spark-x'),
  pod('spark', 'spark-'),
  pod('spark', 'spark'),
  pod('spark', ' spark-x\n'),
  pod('spark', '/spark-x'),
  pod('spark', 'teams/spark-x'),
  pod('spark', ARN('spark-x')),
  pod('spark', ARN('spark-x', '999999999999')),
  pod('spark', ARN('etl/job')),
  pod('spark', ARN('etl/a/b')),
  pod('spark', ARN('etl')),
  pod('spark', 'other'),
  pod('spark', 'spark*'),
  pod('spark', ''),
  pod('spark', 'arn:aws:iam::123:role/x'),
  pod('spark', `${'a'.repeat(65)}`),
  pod('spark', '\u00a0spark-x', 'unicode-whitespace'),
  pod('plain', 'spark-x'),
  pod('plain', ARN('spark-x')),
  pod('arn-default', ARN('app')),
  pod('arn-default', 'app'),
  pod('arn-default', ARN('app2')),
  pod('spaced', 'spark-etl'),
  pod('spaced', 'reports'),
  pod('spaced', 'spark-y'),
  pod('empty', 'spark-x'),
  pod('literal', 'team.a+b'),
  pod('literal', 'teamxa+b'),
  pod('literal', 'team.aab'),
  pod('literal', 'teams/x'),
  pod('literal', 'teams/x/y'),
  pod('literal', 'anything'),
  pod('star', 'anything'),
  pod('star', 'teams/x'),
  pod('partition', `arn:aws-us-gov:iam::${ACCOUNT}:role/gov`),
  pod('partition', ARN('gov')),
  pod('external-id', 'spark-etl'),
  pod('short-default', 'app'),
  pod('short-default', ARN('app')),
  pod('many', 'spark-x'),
  pod('many', 'team-299/app'),
  pod('many', 'team-300/app'),
  pod('long', 'spark-x'),
  pod('long', 'team-1399/app'),
  pod('long', ARN('team-1399/app')),
  pod('dense', 'x6999'),
  pod('dense', ARN('x6999-a')),
  pod('dense', 'y'),
  pod('huge', 'spark-x', 'size-cap'),
  pod('bad-json', 'spark-x'),
  pod('not-strings', 'spark-x'),
  pod('bad-role', 'spark-x'),
  pod('bad-external-id-short', 'spark-etl'),
  pod('escaped', 'spark-x', 'json-escapes'),
  pod('nbsp', 'spark-x', 'unicode-whitespace'),
  // A pod of each session-policy namespace asks for the namespace's role: allowed where the
  // annotations are well-formed, refused where the agent finds them malformed (or, for the listed
  // differences, where the policy does).
  ...Object.keys(NAMESPACES)
    .filter((name) => /^(sp|arns)-/.test(name))
    .map((name) => pod(name, ARN('app'))),
  serviceAccount('spark', 'spark-x'),
  serviceAccount('spark', ARN('etl/job')),
  serviceAccount('spark', 'other'),
  serviceAccount('spark', 'not a role'),
  serviceAccount('bad-json', ARN('etl/job')),
  serviceAccount('sp-no-statement', ARN('app')),
  serviceAccount('arns-eleven', ARN('app')),
];

interface Row {
  config: string;
  object: string;
  role: string;
  apiServer: string;
  agent: string;
  verdict: string;
}

const control = controlPlaneBinaries(t);
const helm = findHelm(t);

if (!control.ok || !helm.ok) {
  t.test('the admission policy on a real kube-apiserver', { skip: !control.ok ? control.reason : !helm.ok ? helm.reason : '' }, () => {});
} else {
  const helmBin = helm.bin;
  const render = (config: Config) =>
    renderChart(helmBin, { ...config.set, fullnameOverride: 'corridor' }, ['--api-versions', VAP, '--show-only', 'templates/validatingadmissionpolicy.yaml']);

  t.test('the admission policy on a real kube-apiserver agrees with the agent, or is stricter as docs/admission-policy.md lists', async (t) => {
    const started = Date.now();
    const plane = await startControlPlane(t, control.binaries);
    t.comment(`kube-apiserver ${plane.version} at ${plane.server} (ready in ${Date.now() - started} ms)`);
    const admin = plane.admin();
    const core = admin.makeApiClient(CoreV1Api);
    const objects = KubernetesObjectApi.makeApiClient(admin);

    // Every namespace of the table exists before the policy does: pods of malformed ones are cases too.
    for (const [name, annotations] of Object.entries(NAMESPACES)) {
      await core.createNamespace({ body: { metadata: { name, annotations } } });
    }

    // The size cases mean what their names say.
    const compact = (name: string) => JSON.stringify(JSON.parse(NAMESPACES[name]?.[KEYS.sessionPolicy] ?? 'null')).length;
    t.ok(compact('sp-padded') <= 2048 && (NAMESPACES['sp-padded']?.[KEYS.sessionPolicy]?.length ?? 0) > 2048, 'sp-padded: within 2048 compact, over as written');
    t.equal(compact('sp-arns-fit') + LOGS.length, 2048, 'sp-arns-fit: 2048 with the ARN once, over with its duplicate');

    const rows: Row[] = [];
    const page = readFileSync(join(ROOT, 'docs', 'admission-policy.md'), 'utf8');
    for (const difference of Object.keys(KNOWN_DIFFERENCES)) t.ok(page.includes(`\`${difference}\``), `docs/admission-policy.md lists the known difference ${difference}`);

    for (const config of [WITH_BASE, WITHOUT_BASE]) {
      await t.test(config.name, async (t) => {
        const policy = render(config);
        t.same(policy.map((o) => o.kind), ['ValidatingAdmissionPolicy', 'ValidatingAdmissionPolicyBinding'], 'the chart renders the policy and its binding');
        await replacePolicy(objects, policy);
        await waitForPolicy(t, plane, core, config);
        await expectNoTypeWarnings(t, objects);

        const namespaceAnswers = new Map<string, Answer>();
        for (const [name, annotations] of Object.entries(NAMESPACES)) {
          const answer = await ask(() => core.createNamespace({ body: { metadata: { name: `try-${name}`, annotations } }, dryRun: 'All' }));
          namespaceAnswers.set(name, answer);
          const agent = decideRole({ pod: { name: 'probe', namespace: name, serviceAccountName: 'default', annotations: {} }, namespace: fresh(name, annotations), serviceAccount: undefined }, config.options);
          const malformed = !agent.allowed && agent.reason === 'malformed-annotation';
          rows.push(judge(t, config, `Namespace ${name}`, shortAnnotations(annotations), answer, malformed ? { allowed: false, why: 'malformed-annotation' } : { allowed: true, why: 'well-formed' }, NAMESPACE_DIFFERENCES[name]));
        }

        for (const object of OBJECTS) {
          if (object.kind === 'ServiceAccount' && !config.options.serviceAccountRoles) continue;
          const annotations = NAMESPACES[object.namespace] ?? {};
          const body = { metadata: { name: 'case', annotations: { [object.kind === 'Pod' ? KEYS.role : KEYS.serviceAccountRole]: object.role } } };
          const answer = await ask(() =>
            object.kind === 'Pod'
              ? core.createNamespacedPod({ namespace: object.namespace, body: { ...body, spec: { containers: [{ name: 'app', image: 'registry.example/app:1' }] } }, dryRun: 'All' })
              : core.createNamespacedServiceAccount({ namespace: object.namespace, body, dryRun: 'All' }),
          );
          // A ServiceAccount's role is what a pod without its own annotation gets.
          const decision = decideRole(
            {
              pod: { name: 'case', namespace: object.namespace, serviceAccountName: 'case', annotations: object.kind === 'Pod' ? { [KEYS.role]: object.role } : {} },
              namespace: fresh(object.namespace, annotations),
              serviceAccount: object.kind === 'ServiceAccount' ? { annotations: { [KEYS.serviceAccountRole]: object.role } } : undefined,
            },
            config.options,
          );
          const agent = decision.allowed ? { allowed: true, why: `allow ${decision.role.arn === ARN(decision.role.name) ? decision.role.name : decision.role.arn}` } : { allowed: false, why: decision.reason };
          const difference = object.stricter ?? (namespaceAnswers.get(object.namespace)?.allowed === false ? NAMESPACE_DIFFERENCES[object.namespace] : undefined);
          rows.push(judge(t, config, `${object.kind} in ${object.namespace}`, JSON.stringify(object.role), answer, agent, difference));
        }
      });
    }

    await t.test('updates: a pod is checked when its role annotation changes, a namespace whenever it carries one', async (t) => {
      await replacePolicy(objects, render(WITH_BASE));
      await waitForPolicy(t, plane, core, WITH_BASE);
      await core.createNamespacedPod({ namespace: 'spark', body: { metadata: { name: 'web', annotations: { [KEYS.role]: 'spark-x' } }, spec: { containers: [{ name: 'app', image: 'registry.example/app:1' }] } } });
      const patch = async (annotations: Record<string, string>, labels: Record<string, string> = {}) =>
        ask(() => objects.patch({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'web', namespace: 'spark', annotations, labels } }, undefined, undefined, undefined, undefined, PatchStrategy.MergePatch));
      t.match(await patch({ [KEYS.role]: 'other' }), { allowed: false, message: /not allowed in namespace spark/ }, 'changing the role to one the namespace does not allow is refused');
      t.match(await patch({ [KEYS.role]: 'spark-y' }), { allowed: true }, 'changing it to an allowed one is accepted');
      t.match(await patch({}, { tier: 'web' }), { allowed: true }, 'a label change is accepted');
      const nsPatch = (name: string, metadata: Record<string, unknown>) =>
        ask(() => objects.patch({ apiVersion: 'v1', kind: 'Namespace', metadata: { name, ...metadata } }, undefined, undefined, undefined, undefined, PatchStrategy.MergePatch));
      t.match(await nsPatch('spark', { annotations: { [KEYS.allowedRoles]: '["spark-*"' } }), { allowed: false, message: /must be a JSON array/ }, 'a namespace update that breaks allowed-roles is refused');
      t.match(await nsPatch('spark', { annotations: { [KEYS.sessionPolicy]: '{"Version":"2012-10-17"}' } }), { allowed: false, message: /session-policy must be an IAM policy document/ }, 'a namespace update with a malformed session-policy is refused');
      t.match(await nsPatch('spark', { annotations: { [KEYS.sessionPolicyArns]: `["${ARN('x')}"]` } }), { allowed: false, message: /session-policy-arns must be a JSON array of at most 10/ }, 'and one with a malformed session-policy-arns');
      t.match(await nsPatch('bad-json', { labels: { team: 'a' } }), { allowed: false, message: /must be a JSON array/ }, 'a malformed namespace must be fixed before another change');
      t.match(await nsPatch('bad-json', { annotations: { [KEYS.allowedRoles]: '["spark-*"]' } }), { allowed: true }, 'fixing it is accepted');
      t.match(await ask(() => core.createNamespacedPod({ namespace: 'spark', body: { metadata: { name: 'plain' }, spec: { containers: [{ name: 'app', image: 'registry.example/app:1' }] } }, dryRun: 'All' })), { allowed: true }, 'a pod without a role annotation is not checked');
    });

    printTable(t, rows);
    t.comment(`admission test: ${rows.length} cases in ${Math.round((Date.now() - started) / 1000)} s (control plane included)`);
  });
}

/** decideRole caches a namespace's parsed policy by its annotations object; each configuration needs its own. */
function fresh(name: string, annotations: Record<string, string>): { name: string; annotations: Record<string, string> } {
  return { name, annotations: { ...annotations } };
}

interface Answer {
  allowed: boolean;
  message: string;
}

/** The API server's answer to a request: accepted, or refused with the status message. */
async function ask(request: () => Promise<unknown>): Promise<Answer> {
  try {
    await request();
    return { allowed: true, message: '' };
  } catch (error) {
    if (!(error instanceof ApiException)) throw error;
    const body = typeof error.body === 'string' ? error.body : JSON.stringify(error.body);
    let message = body;
    try {
      message = (JSON.parse(body) as { message?: string }).message ?? body;
    } catch {
      // not JSON: keep the text
    }
    return { allowed: false, message: `${error.code}: ${message}` };
  }
}

/**
 * One row: the API server must refuse whatever the agent denies (never looser); it may refuse
 * what the agent allows only for a listed difference; a refusal must come from one of the
 * policy's own validations (its message starts "corridor:"), never from an evaluation error.
 */
function judge(t: Test, config: Config, object: string, role: string, answer: Answer, agent: { allowed: boolean; why: string }, difference: Difference | undefined): Row {
  const name = `${config.name}: ${object} ${role}`;
  let verdict: string;
  if (answer.allowed === agent.allowed) {
    verdict = 'agree';
    t.ok(difference === undefined || answer.allowed === false, `${name}: agree`);
  } else if (answer.allowed) {
    verdict = 'LOOSER';
    t.fail(`${name}: the API server accepts what the agent denies (${agent.why})`);
  } else {
    verdict = difference ? `stricter (${difference})` : 'STRICTER, unlisted';
    t.ok(difference !== undefined, `${name}: stricter only where docs/admission-policy.md says so (${answer.message})`);
  }
  if (!answer.allowed) t.match(answer.message, /ValidatingAdmissionPolicy 'corridor' .*denied request: corridor: /, `${name}: refused by the policy's own message`);
  return { config: config.name, object, role, apiServer: answer.allowed ? 'accept' : `refuse ${answer.message.replace(/^.*denied request: corridor: /, '').slice(0, 60)}`, agent: `${agent.allowed ? 'allow' : 'deny'} (${agent.why})`, verdict };
}

/** Replaces any policy and binding with these (the binding is deleted first, created last). */
async function replacePolicy(objects: KubernetesObjectApi, policy: K8sObject[]): Promise<void> {
  const binding = policy.find((o) => o.kind === 'ValidatingAdmissionPolicyBinding') as KubernetesObject;
  const vap = policy.find((o) => o.kind === 'ValidatingAdmissionPolicy') as KubernetesObject;
  for (const object of [binding, vap]) {
    try {
      await objects.delete(object);
    } catch (error) {
      if (!(error instanceof ApiException && error.code === 404)) throw error;
    }
  }
  await objects.create(vap);
  await objects.create(binding);
}

/**
 * The API server loads policies and bindings through informers, a moment after they are
 * written: try probes whose answers only this configuration gives until they come (bounded).
 * With a base ARN: a short-name pod its namespace allows is accepted and a ServiceAccount with
 * a malformed role is refused; without: the short name is refused for want of a base ARN and
 * ServiceAccounts are not checked.
 */
async function waitForPolicy(t: Test, plane: ControlPlane, core: CoreV1Api, config: Config): Promise<void> {
  const started = Date.now();
  const deadline = started + 60_000;
  const withBase = config.options.baseRoleArn !== undefined;
  let last = '';
  while (Date.now() < deadline) {
    const badNamespace = await ask(() => core.createNamespace({ body: { metadata: { name: 'probe', annotations: { [KEYS.allowedRoles]: 'not json' } } }, dryRun: 'All' }));
    const shortPod = await ask(() =>
      core.createNamespacedPod({ namespace: 'spark', body: { metadata: { name: 'probe', annotations: { [KEYS.role]: 'spark-x' } }, spec: { containers: [{ name: 'app', image: 'registry.example/app:1' }] } }, dryRun: 'All' }),
    );
    const badServiceAccount = await ask(() => core.createNamespacedServiceAccount({ namespace: 'spark', body: { metadata: { name: 'probe', annotations: { [KEYS.serviceAccountRole]: 'not a role' } } }, dryRun: 'All' }));
    const ready = !badNamespace.allowed && (withBase ? shortPod.allowed && !badServiceAccount.allowed : /by short name/.test(shortPod.message) && badServiceAccount.allowed);
    if (ready) {
      t.comment(`${config.name}: policy in effect after ${Date.now() - started} ms`);
      return;
    }
    last = JSON.stringify({ badNamespace, shortPod, badServiceAccount });
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  throw new Error(`${config.name}: the policy was not in effect after 60 s (${plane.version}): ${last}`);
}

/** The API server type-checks a policy's expressions against the schemas it matches; it must find nothing. */
async function expectNoTypeWarnings(t: Test, objects: KubernetesObjectApi): Promise<void> {
  type Policy = KubernetesObject & { status?: { typeChecking?: { expressionWarnings?: Array<{ fieldRef: string; warning: string }> } } };
  const read = await objects.read<Policy>({ apiVersion: 'admissionregistration.k8s.io/v1', kind: 'ValidatingAdmissionPolicy', metadata: { name: 'corridor' } });
  t.same(read.status?.typeChecking?.expressionWarnings ?? [], [], 'no type-checking warnings');
}

function shortAnnotations(annotations: Record<string, string>): string {
  const text = Object.entries(annotations)
    .map(([key, value]) => `${key.replace('iam.amazonaws.com/', '')}=${JSON.stringify(value)}`)
    .join(' ');
  return text.length > 70 ? `${text.slice(0, 70)}…` : text || '(none)';
}

function printTable(t: Test, rows: Row[]): void {
  const columns: Array<keyof Row> = ['config', 'object', 'role', 'apiServer', 'agent', 'verdict'];
  const width = (column: keyof Row) => Math.max(column.length, ...rows.map((row) => row[column].length));
  const line = (cells: Record<keyof Row, string>) => columns.map((c) => cells[c].padEnd(width(c))).join(' | ');
  t.comment(line({ config: 'config', object: 'object', role: 'annotation', apiServer: 'kube-apiserver', agent: 'agent (decideRole)', verdict: 'verdict' }));
  for (const row of rows) t.comment(line(row));
}
