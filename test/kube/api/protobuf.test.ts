import t from 'tap';
import { decodeObject, decodeWatchEvent, ProtobufError } from '../../../src/kube/api/protobuf.js';
import { parseNamespace, parsePod, parseServiceAccount, statusCodeOf } from '../../../src/kube/parse.js';
import { makeNamespace, makePod, makeServiceAccount } from '../../helpers/fake-kube-api.js';
import { bytesField, encodeObject, encodeWatchFrame, stringField } from '../../helpers/k8s-protobuf.js';

const PODS = [
  makePod({ name: 'driver', namespace: 'gha', uid: 'u-1', ip: '10.0.0.7', annotations: { 'iam.amazonaws.com/role': 'spark-etl' }, serviceAccountName: 'spark' }),
  makePod({ name: 'dual', namespace: 'gha', uid: 'u-2', ip: '10.0.0.8', moreIps: ['fd00::8'] }),
  makePod({ name: 'pending', namespace: 'gha', uid: 'u-3', phase: 'Pending' }),
  makePod({ name: 'leaving', namespace: 'gha', uid: 'u-4', ip: '10.0.0.9', deletionTimestamp: '2026-03-04T05:06:07Z' }),
  makePod({ name: 'host', namespace: 'kube-system', uid: 'u-5', hostNetwork: true, phase: 'Succeeded' }),
];

t.test('a pod list in protobuf reads as its JSON does: names, uid, node, IPs, phase, ServiceAccount, annotations, deletion', async (t) => {
  const list = decodeObject(encodeObject('PodList', { metadata: { resourceVersion: '42' }, items: PODS })) as { items: unknown[] };
  t.same(list.items.map(parsePod), PODS.map(parsePod));
  t.equal(parsePod(list.items[3]).terminating, true, 'the deletion timestamp survives');
  t.same(parsePod(list.items[1]).ips, ['10.0.0.8', 'fd00::8'], 'both addresses of a dual-stack pod');
  t.equal(parsePod(list.items[4]).hostNetwork, true);
});

t.test('namespaces and ServiceAccounts keep their names and annotations; managedFields and fields of every wire type are skipped', async (t) => {
  const namespaces = [makeNamespace('gha', { 'iam.amazonaws.com/allowed-roles': '["spark-etl"]', 'corridor.io/x': 'y' }), makeNamespace('plain')];
  const decoded = decodeObject(encodeObject('NamespaceList', { metadata: { resourceVersion: '7' }, items: namespaces })) as { items: unknown[] };
  t.same(decoded.items.map(parseNamespace), namespaces.map(parseNamespace));
  const accounts = [makeServiceAccount('gha', 'spark', { 'eks.amazonaws.com/role-arn': 'arn:aws:iam::123456789012:role/spark-etl' })];
  const sa = decodeObject(encodeObject('ServiceAccountList', { metadata: {}, items: accounts })) as { items: unknown[] };
  t.same(sa.items.map(parseServiceAccount), accounts.map(parseServiceAccount));
  t.notOk('managedFields' in (decoded.items[0] as { metadata: object }).metadata, 'nothing the agent does not read is kept');
});

t.test('a list carries its resourceVersion and continue token; an empty token (proto2 sends it) reads as none', async (t) => {
  const paged = decodeObject(encodeObject('NamespaceList', { metadata: { resourceVersion: '99', continue: 'abc' }, items: [] })) as { metadata: Record<string, unknown> };
  t.same(paged.metadata, { resourceVersion: '99', continue: 'abc' });
  const last = decodeObject(encodeObject('NamespaceList', { metadata: { resourceVersion: '99', continue: '' }, items: [] })) as { metadata: Record<string, unknown> };
  t.same(last.metadata, { resourceVersion: '99' });
});

t.test('a Status reads as its code, reason and message', async (t) => {
  const status = decodeObject(encodeObject('Status', { status: 'Failure', code: 410, reason: 'Expired', message: 'too old resource version: 5 (80)' }));
  t.equal(statusCodeOf(status), 410);
  t.match(status, { kind: 'Status', reason: 'Expired', message: 'too old resource version: 5 (80)' });
});

t.test('a watch frame gives the event type and the whole object inside it', async (t) => {
  const frame = encodeWatchFrame('MODIFIED', 'Pod', PODS[0] as Record<string, unknown>).subarray(4);
  const event = decodeWatchEvent(frame);
  t.equal(event.type, 'MODIFIED');
  t.same(parsePod(event.object), parsePod(PODS[0]));
  const error = decodeWatchEvent(encodeWatchFrame('ERROR', 'Status', { code: 410, reason: 'Expired' }).subarray(4));
  t.equal(error.type, 'ERROR');
  t.equal(statusCodeOf(error.object), 410);
});

t.test('malformed bytes are a ProtobufError at every cut, never a crash, a hang or a partial object', async (t) => {
  const whole = encodeObject('PodList', { metadata: { resourceVersion: '1' }, items: PODS });
  const outcomes = new Map<string, number>();
  for (let cut = 0; cut < whole.length; cut++) {
    let outcome: string;
    try {
      decodeObject(whole.subarray(0, cut));
      // A cut that falls between two fields of the envelope leaves a shorter, valid message.
      outcome = 'decoded';
    } catch (error) {
      outcome = error instanceof ProtobufError ? 'ProtobufError' : `other: ${String(error)}`;
    }
    outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
  }
  t.same([...outcomes.keys()].filter((outcome) => outcome.startsWith('other')), [], 'no cut throws anything but a ProtobufError');
  t.ok((outcomes.get('ProtobufError') ?? 0) > whole.length * 0.9, `nearly every cut is refused (${outcomes.get('ProtobufError')} of ${whole.length})`);
  t.throws(() => decodeObject(Buffer.from('{"kind":"PodList"}')), { message: /no k8s magic/ }, 'JSON is not protobuf (no magic)');
  const unknownKind = encodeObject('PodList', { items: [] });
  unknownKind.write('PodLisX', unknownKind.indexOf('PodList'));
  t.throws(() => decodeObject(unknownKind), { message: /unexpected kind PodLisX/ });
  const magic = Buffer.from([0x6b, 0x38, 0x73, 0x00]);
  t.throws(() => decodeObject(Buffer.concat([magic, Buffer.from([0x0b])])), { message: /unsupported wire type 3/ }, 'a group (wire type 3)');
  t.throws(() => decodeObject(Buffer.concat([magic, Buffer.alloc(11, 0xff)])), { message: /varint longer than 10 bytes/ });
  t.throws(() => decodeObject(Buffer.concat([magic, bytesField(2, stringField(1, 'x')).subarray(0, 3)])), { message: /past the end/ });
});
