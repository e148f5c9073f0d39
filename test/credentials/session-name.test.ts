import t from 'tap';
import fc from 'fast-check';
import { roleSessionName } from '../../src/credentials/session-name.js';

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
