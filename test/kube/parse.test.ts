import { V1Pod } from '@kubernetes/client-node';
import t from 'tap';
import {
  keepingAnnotations,
  parseNamespace,
  parsePod,
  parseServiceAccount,
  resourceVersionOf,
  statusCodeOf,
} from '../../src/kube/parse.js';

t.test('a full pod from watch JSON parses into PodInfo', async (t) => {
  const pod = parsePod({
    metadata: {
      name: 'web',
      namespace: 'gha',
      uid: 'u-1',
      resourceVersion: '42',
      annotations: { 'iam.amazonaws.com/role': 'reader' },
      deletionTimestamp: '2026-01-01T00:00:00Z',
    },
    spec: { nodeName: 'node-a', serviceAccountName: 'builder', hostNetwork: false },
    status: { phase: 'Running', podIP: '10.0.0.5' },
  });
  t.same(pod, {
    uid: 'u-1',
    name: 'web',
    namespace: 'gha',
    nodeName: 'node-a',
    ip: '10.0.0.5',
    ips: ['10.0.0.5'],
    phase: 'Running',
    terminating: true,
    hostNetwork: false,
    serviceAccountName: 'builder',
    annotations: { 'iam.amazonaws.com/role': 'reader' },
  });
});

t.test('a dual-stack pod has every address of status.podIPs, IPv6 in the form its sockets report', async (t) => {
  const status = { phase: 'Running', podIP: '10.0.0.5', podIPs: [{ ip: '10.0.0.5' }, { ip: 'FD00:10:0:0:0:0:0:5' }] };
  const pod = parsePod({ metadata: { name: 'web', namespace: 'gha', uid: 'u-1' }, spec: { nodeName: 'node-a' }, status });
  t.equal(pod.ip, '10.0.0.5', 'status.podIP stays the primary');
  t.same(pod.ips, ['10.0.0.5', 'fd00:10::5']);
  const v6first = parsePod({ metadata: { uid: 'u-2' }, status: { podIP: 'fd00:10::7', podIPs: [{ ip: 'fd00:10::7' }, { ip: '10.0.0.7' }] } });
  t.same(v6first.ips, ['fd00:10::7', '10.0.0.7'], 'an IPv6-primary cluster');
  const onlyList = parsePod({ metadata: { uid: 'u-3' }, status: { podIPs: [{ ip: '10.0.0.8' }, { ip: 42 }, 'x', { ip: '' }] } });
  t.same(onlyList.ips, ['10.0.0.8'], 'podIPs without podIP, odd entries skipped');
  t.equal(onlyList.ip, '10.0.0.8');
  t.same(parsePod({ metadata: { uid: 'u-4' }, status: { phase: 'Pending' } }).ips, [], 'no IP yet');
});

t.test('a pod from a list call (client-node model, Date timestamps) parses the same way', async (t) => {
  const model = new V1Pod();
  model.metadata = { name: 'web', namespace: 'gha', uid: 'u-1', deletionTimestamp: new Date('2026-01-01T00:00:00Z') };
  model.spec = { nodeName: 'node-a', containers: [] };
  model.status = { phase: 'Running', podIP: '10.0.0.5' };
  const pod = parsePod(model);
  t.equal(pod.terminating, true);
  t.equal(pod.ip, '10.0.0.5');
  t.equal(pod.serviceAccountName, 'default');
});

t.test('missing or mistyped fields get defaults instead of a throw', async (t) => {
  for (const raw of [undefined, null, 42, 'pod', [], {}, { metadata: null, spec: 'x', status: [] }]) {
    const pod = parsePod(raw);
    t.equal(pod.ip, undefined, `no ip for ${JSON.stringify(raw)}`);
    t.same(pod.annotations, {});
    t.equal(pod.terminating, false);
    t.equal(pod.hostNetwork, false);
    t.equal(pod.phase, 'Unknown');
  }
  const odd = parsePod({
    metadata: { name: 'x', namespace: 'ns', annotations: { good: 'yes', bad: 7, worse: null } },
    spec: { hostNetwork: 'true' },
    status: { podIP: '' },
  });
  t.same(odd.annotations, { good: 'yes' }, 'non-string annotation values are dropped');
  t.equal(odd.hostNetwork, false, 'only a real boolean true means hostNetwork');
  t.equal(odd.ip, undefined, 'an empty podIP is no IP');
  t.equal(odd.uid, 'ns/x', 'a missing uid falls back to namespace/name so pods do not collide');
});

t.test('the deprecated spec.serviceAccount is honoured when serviceAccountName is absent', async (t) => {
  t.equal(parsePod({ spec: { serviceAccount: 'legacy' } }).serviceAccountName, 'legacy');
});

t.test('namespaces and ServiceAccounts parse with annotations defaulting to {}', async (t) => {
  t.same(parseNamespace({ metadata: { name: 'gha', annotations: { a: 'b' } } }), { name: 'gha', annotations: { a: 'b' } });
  t.same(parseNamespace({ metadata: { name: 'bare' } }), { name: 'bare', annotations: {} });
  t.same(parseNamespace(undefined), { name: '', annotations: {} });
  t.same(parseServiceAccount({ metadata: { name: 'builder', namespace: 'gha' } }), {
    name: 'builder',
    namespace: 'gha',
    annotations: {},
  });
});

t.test('the agent\'s parsers keep only the annotations asked for; objects without any share one empty record', async (t) => {
  const parse = keepingAnnotations(new Set(['iam.amazonaws.com/role', 'eks.amazonaws.com/role-arn']));
  const big = { 'kubectl.kubernetes.io/last-applied-configuration': '{"kind":"Namespace"}', 'iam.amazonaws.com/role': 'etl', odd: 7 };
  t.same(parse.namespace({ metadata: { name: 'gha', annotations: big } }), { name: 'gha', annotations: { 'iam.amazonaws.com/role': 'etl' } });
  const plain = parse.namespace({ metadata: { name: 'a', annotations: { other: 'x' } } });
  t.same(plain, { name: 'a', annotations: {} });
  t.equal(plain.annotations, parse.namespace({ metadata: { name: 'b' } }).annotations, 'one shared empty record');
  t.ok(Object.isFrozen(plain.annotations));
  t.same(parse.namespace({ metadata: { name: 'c', annotations: { 'iam.amazonaws.com/role': 42 } } }).annotations, {}, 'a non-string value is not kept');
  t.same(parse.serviceAccount({ metadata: { name: 'builder', namespace: 'gha', annotations: { 'eks.amazonaws.com/role-arn': 'arn', x: 'y' } } }), {
    name: 'builder',
    namespace: 'gha',
    annotations: { 'eks.amazonaws.com/role-arn': 'arn' },
  });
});

t.test('resourceVersion and Status code are read from raw objects', async (t) => {
  t.equal(resourceVersionOf({ metadata: { resourceVersion: '17' } }), '17');
  t.equal(resourceVersionOf({ metadata: { resourceVersion: '' } }), undefined);
  t.equal(resourceVersionOf({}), undefined);
  t.equal(statusCodeOf({ kind: 'Status', code: 410 }), 410);
  t.equal(statusCodeOf({ code: '410' }), undefined);
});
