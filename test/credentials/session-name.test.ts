import t from 'tap';
import fc from 'fast-check';
import { podSessionName, roleSessionName } from '../../src/credentials/session-name.js';

const VALID = /^[\w+=,.@-]{2,64}$/;

t.test('a short namespace and node give corridor.<namespace>.<node>', async (t) => {
  t.equal(roleSessionName('payments', 'node-1'), 'corridor.payments.node-1');
  t.equal(roleSessionName('kube-system', 'ip-10-0-1-2.ec2.internal'), 'corridor.kube-system.ip-10-0-1-2.ec2.internal');
});

t.test('a long EKS node name loses its DNS domain first and gains a hash suffix', async (t) => {
  const name = roleSessionName('monitoring', 'ip-192-168-100-200.eu-central-1.compute.internal');
  t.match(name, /^corridor\.monitoring\.ip-192-168-100-200-[0-9a-f]{8}$/);
  t.ok(name.length <= 64);
});

t.test('a namespace too long to fit is cut, never beyond 64 characters, without a dangling separator', async (t) => {
  const namespace = 'a'.repeat(63);
  const name = roleSessionName(namespace, 'node-1');
  t.equal(name.length, 64);
  t.match(name, /^corridor\.a+-[0-9a-f]{8}$/);
  // 'corridor.' + 45 characters is 54, so the cut at 55 would end on the '.' before the node.
  t.match(roleSessionName('b'.repeat(45), 'node-1234567890'), /^corridor\.b{45}-[0-9a-f]{8}$/);
});

t.test('characters STS does not accept become dashes', async (t) => {
  t.equal(roleSessionName('ns', 'node/1:2'), 'corridor.ns.node-1-2');
});

t.test('every namespace and node give a valid, deterministic name', async (t) => {
  const label = fc.stringMatching(/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/);
  const node = fc.array(label, { minLength: 1, maxLength: 4 }).map((parts) => parts.join('.'));
  fc.assert(
    fc.property(label, node, (namespace, nodeName) => {
      const name = roleSessionName(namespace, nodeName);
      return VALID.test(name) && name === roleSessionName(namespace, nodeName) && name.startsWith('corridor.');
    }),
  );
  t.pass('property held');
});

t.test('different inputs whose readable part is cut identically still get different names', async (t) => {
  const long = fc.stringMatching(/^[a-z0-9]{60,63}$/);
  fc.assert(
    fc.property(long, fc.stringMatching(/^[a-z0-9]{1,20}$/), fc.stringMatching(/^[a-z0-9]{1,20}$/), (namespace, a, b) => {
      fc.pre(a !== b);
      return roleSessionName(namespace, a) !== roleSessionName(namespace, b);
    }),
  );
  t.pass('property held');
});

const k8sLabel = fc.stringMatching(/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/);
const podName = fc.array(k8sLabel, { minLength: 1, maxLength: 4 }).map((parts) => parts.join('.').slice(0, 253));

t.test('pod scope: a short namespace and pod give corridor.<namespace>.<pod>', async (t) => {
  t.equal(podSessionName('gha', 'spark-driver'), 'corridor.gha.spark-driver');
  t.equal(podSessionName('payments', 'api-7d9f8c6b5-x2x9k'), 'corridor.payments.api-7d9f8c6b5-x2x9k');
});

t.test('pod scope: a long pod name is cut to 64 characters and ends in _<8 hex> of namespace/pod', async (t) => {
  const pod = 'spark-etl-nightly-aggregation-driver-0123456789abcdef-7d9f8c6b5-x2x9k';
  const name = podSessionName('data-platform', pod);
  t.equal(name.length, 64);
  t.match(name, /^corridor\.data-platform\.spark-etl-nightly-aggregation-dr_[0-9a-f]{8}$/);
  t.equal(name, podSessionName('data-platform', pod), 'deterministic');
  // The cut would end on a separator: it is dropped before the hash.
  t.match(podSessionName('a'.repeat(45), 'b'.repeat(30)), /^corridor\.a{45}_[0-9a-f]{8}$/);
});

t.test('pod scope: pods whose names differ only past the cut still get different names', async (t) => {
  const prefix = 'worker-pool-with-a-very-long-deployment-name-for-the-batch-jobs';
  const names = new Set(Array.from({ length: 1000 }, (_, i) => podSessionName('batch', `${prefix}-${i}`)));
  t.equal(names.size, 1000);
  for (const name of names) t.ok(VALID.test(name), name);
});

t.test('pod scope: every namespace and pod name give a valid, deterministic name, and different pods different names', async (t) => {
  fc.assert(
    fc.property(k8sLabel, podName, (namespace, pod) => {
      const name = podSessionName(namespace, pod);
      return VALID.test(name) && name === podSessionName(namespace, pod) && name.startsWith('corridor.');
    }),
  );
  fc.assert(
    fc.property(k8sLabel, podName, k8sLabel, podName, (ns1, pod1, ns2, pod2) => {
      fc.pre(ns1 !== ns2 || pod1 !== pod2);
      return podSessionName(ns1, pod1) !== podSessionName(ns2, pod2);
    }),
  );
  // Long names that share the readable part, and a cut name against a full one of the same prefix.
  const long = fc.stringMatching(/^[a-z0-9]{50,63}$/);
  fc.assert(
    fc.property(long, fc.stringMatching(/^[a-z0-9-]{1,40}$/), fc.stringMatching(/^[a-z0-9-]{1,40}$/), (namespace, a, b) => {
      fc.pre(a !== b);
      return podSessionName(namespace, `p${a}`) !== podSessionName(namespace, `p${b}`);
    }),
  );
  t.pass('properties held');
});

t.test('pod scope: a cut name never equals another pod\'s full name: only cut names contain "_", which no Kubernetes name does', async (t) => {
  fc.assert(
    fc.property(k8sLabel, podName, (namespace, pod) => {
      const cut = `corridor.${namespace}.${pod}`.length > 64;
      return podSessionName(namespace, pod).includes('_') === cut;
    }),
  );
  t.pass('property held');
});
