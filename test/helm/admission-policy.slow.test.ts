import t from 'tap';
import { CHART, findHelm, helm, only, renderChart, schemaProblem, type K8sObject } from '../helpers/helm.js';

/**
 * The chart's ValidatingAdmissionPolicy as rendered: when it is there, what it matches, which
 * annotation keys and base ARN it reads, how it is bound. Whether its CEL agrees with the agent
 * is proved on a real kube-apiserver by test/peers/admission.peer.ts.
 */

const VAP = 'admissionregistration.k8s.io/v1/ValidatingAdmissionPolicy';
const WITH_VAP = ['--api-versions', VAP];

interface Policy {
  spec: {
    failurePolicy: string;
    matchConstraints: { resourceRules: Array<{ apiGroups: string[]; operations: string[]; resources: string[] }> };
    matchConditions: Array<{ name: string; expression: string }>;
    variables: Array<{ name: string; expression: string }>;
    validations: Array<{ expression: string; messageExpression: string }>;
  };
}
interface Binding {
  spec: { policyName: string; validationActions: string[] };
}

/** Every CEL expression of the policy, in one string. */
function expressions(policy: Policy): string {
  return [...policy.spec.matchConditions, ...policy.spec.variables, ...policy.spec.validations].map((e) => ('expression' in e ? e.expression : '') + ('messageExpression' in e ? e.messageExpression : '')).join('\n');
}

const found = findHelm(t);
if (!found.ok) {
  t.plan(0, `helm chart tests skipped: ${found.reason}`);
} else {
  const bin = found.bin;
  // The chart's other policy (templates/startup-taint.yaml) has tests of its own.
  const renderPolicy = (set: Parameters<typeof renderChart>[1] = {}, extra: readonly string[] = []) =>
    renderChart(bin, set, extra).filter((object) => !object.metadata.name.endsWith('-startup-taint'));
  const kinds = (objects: K8sObject[]) => objects.map((o) => o.kind).filter((k) => k.startsWith('ValidatingAdmissionPolicy'));

  t.test('rendered (on by default) only where the API server serves ValidatingAdmissionPolicy v1, and off when disabled', async (t) => {
    t.same(kinds(renderPolicy()), [], 'not without admissionregistration.k8s.io/v1/ValidatingAdmissionPolicy');
    t.same(kinds(renderPolicy({}, WITH_VAP)), ['ValidatingAdmissionPolicy', 'ValidatingAdmissionPolicyBinding'], 'with it');
    t.same(kinds(renderPolicy({ 'admissionPolicy.enabled': false }, WITH_VAP)), [], 'admissionPolicy.enabled=false');
  });

  t.test('the policy and binding are cluster-scoped, valid, and the binding names the policy with [Deny] and failurePolicy Fail', async (t) => {
    const objects = renderPolicy({ 'agent.serviceAccountRoles': true }, WITH_VAP);
    for (const object of objects) t.equal(schemaProblem(object), undefined, `${object.kind} ${object.metadata.name} validates`);
    const policy = only(objects, 'ValidatingAdmissionPolicy');
    const binding = only(objects, 'ValidatingAdmissionPolicyBinding') as unknown as Binding;
    t.equal(policy.metadata.namespace, undefined);
    t.equal(binding.spec.policyName, policy.metadata.name);
    t.same(binding.spec.validationActions, ['Deny']);
    t.equal((policy as unknown as Policy).spec.failurePolicy, 'Fail');
  });

  t.test('it matches namespaces and pods on create and update, and serviceaccounts only with agent.serviceAccountRoles', async (t) => {
    const rules = (set: Record<string, boolean>) => (only(renderPolicy(set, WITH_VAP), 'ValidatingAdmissionPolicy') as unknown as Policy).spec.matchConstraints.resourceRules;
    t.same(rules({}), [{ apiGroups: [''], apiVersions: ['v1'], operations: ['CREATE', 'UPDATE'], resources: ['namespaces', 'pods'] }]);
    t.same(rules({ 'agent.serviceAccountRoles': true })[0]?.resources, ['namespaces', 'pods', 'serviceaccounts']);
  });

  t.test('its CEL reads the configured annotation keys and the base ARN (with the trailing slash the agent adds)', async (t) => {
    const defaults = expressions(only(renderPolicy({}, WITH_VAP), 'ValidatingAdmissionPolicy') as unknown as Policy);
    for (const key of ['iam.amazonaws.com/role', 'iam.amazonaws.com/allowed-roles', 'iam.amazonaws.com/external-id', 'iam.amazonaws.com/session-policy', 'iam.amazonaws.com/session-policy-arns', 'eks.amazonaws.com/role-arn']) t.match(defaults, `'${key}'`, `default key ${key}`);
    t.match(defaults, /name: base|variables\.base/);
    const custom = only(
      renderPolicy(
        {
          'agent.roleAnnotation': 'example.com/role',
          'agent.allowedRolesAnnotation': 'example.com/allowed-roles',
          'agent.externalIdAnnotation': 'example.com/external-id',
          'agent.sessionPolicyAnnotation': 'example.com/session-policy',
          'agent.sessionPolicyArnsAnnotation': 'example.com/session-policy-arns',
          'agent.serviceAccountRoleAnnotation': 'example.com/role-arn',
          'agent.baseRoleArn': 'arn:aws:iam::123456789012:role/teams',
        },
        WITH_VAP,
      ),
      'ValidatingAdmissionPolicy',
    ) as unknown as Policy;
    const text = expressions(custom);
    for (const key of ['example.com/role', 'example.com/allowed-roles', 'example.com/external-id', 'example.com/session-policy', 'example.com/session-policy-arns', 'example.com/role-arn']) t.match(text, `'${key}'`, `custom key ${key}`);
    t.notMatch(text, /iam\.amazonaws\.com|eks\.amazonaws\.com/, 'no default key is left');
    t.equal(custom.spec.variables.find((v) => v.name === 'base')?.expression, "'arn:aws:iam::123456789012:role/teams/'");
    const unset = only(renderPolicy({}, WITH_VAP), 'ValidatingAdmissionPolicy') as unknown as Policy;
    t.equal(unset.spec.variables.find((v) => v.name === 'base')?.expression, "''", 'no base ARN: short names resolve to nothing');
  });

  t.test('validationActions and failurePolicy are values; the schema refuses what the API server would', async (t) => {
    const objects = renderPolicy({ 'admissionPolicy.failurePolicy': 'Ignore' }, [...WITH_VAP, '--set', 'admissionPolicy.validationActions={Warn,Audit}']);
    t.same((only(objects, 'ValidatingAdmissionPolicyBinding') as unknown as Binding).spec.validationActions, ['Warn', 'Audit']);
    t.equal((only(objects, 'ValidatingAdmissionPolicy') as unknown as Policy).spec.failurePolicy, 'Ignore');
    for (const set of ['admissionPolicy.validationActions={Deny,Warn}', 'admissionPolicy.validationActions={Block}', 'admissionPolicy.validationActions={}', 'admissionPolicy.failurePolicy=Maybe']) {
      const result = helm(bin, ['template', 'corridor', CHART, ...WITH_VAP, '--set', set]);
      t.not(result.status, 0, `--set ${set} fails`);
      t.match(result.stderr, /admissionPolicy/, `and names the value: ${result.stderr.trim().split('\n').at(-1) ?? ''}`);
    }
  });
}
