import t from 'tap';
import { policyWarnings } from '../../src/policy/index.js';

t.test('without a base ARN start-up warns once that short role names match nothing, and what to do', async (t) => {
  const warnings = policyWarnings({ baseRoleArn: undefined });
  t.equal(warnings.length, 1);
  t.match(warnings[0], /no --base-role-arn.*short role names.*match no role.*set --base-role-arn or name full role ARNs/);
});

t.test('with a base ARN start-up does not warn', async (t) => {
  t.same(policyWarnings({ baseRoleArn: 'arn:aws:iam::123456789012:role/' }), []);
});
