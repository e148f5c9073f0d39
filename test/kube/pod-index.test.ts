import fc from 'fast-check';
import t from 'tap';
import { ownerOf, PodIndex } from '../../src/kube/pod-index.js';
import type { PodInfo, PodLookup } from '../../src/kube/types.js';
import { podInfo } from '../helpers/scripted-kube.js';

function pod(fields: Partial<PodInfo> & { name: string }): PodInfo {
  return podInfo({ uid: `uid-${fields.name}`, ip: '10.0.0.5', ...fields });
}

function summary(lookup: PodLookup): string {
  if (lookup.kind === 'found') return `found ${lookup.pod.name}`;
  if (lookup.kind === 'ambiguous') return `ambiguous ${lookup.pods.map((p) => p.name).sort().join(',')}`;
  return 'unknown';
}

const ownershipCases: Array<{ name: string; pods: PodInfo[]; expect: string }> = [
  { name: 'a single running pod owns its IP', pods: [pod({ name: 'web' })], expect: 'found web' },
  { name: 'a pod without an IP owns nothing', pods: [pod({ name: 'pending', ip: undefined, phase: 'Pending' })], expect: 'unknown' },
  { name: 'a hostNetwork pod is skipped', pods: [pod({ name: 'agent', hostNetwork: true })], expect: 'unknown' },
  {
    name: 'an IP reused after a Succeeded pod belongs to the new pod',
    pods: [pod({ name: 'job', phase: 'Succeeded' }), pod({ name: 'new' })],
    expect: 'found new',
  },
  {
    name: 'an IP reused after a Failed pod belongs to the new pod',
    pods: [pod({ name: 'crashed', phase: 'Failed' }), pod({ name: 'new' })],
    expect: 'found new',
  },
  { name: 'a finished pod alone owns nothing', pods: [pod({ name: 'job', phase: 'Succeeded' })], expect: 'unknown' },
  {
    name: 'a terminating pod and a new pod on one IP: the new pod owns it',
    pods: [pod({ name: 'old', terminating: true }), pod({ name: 'new' })],
    expect: 'found new',
  },
  { name: 'a terminating pod alone still owns its IP', pods: [pod({ name: 'old', terminating: true })], expect: 'found old' },
  {
    name: 'two live pods on one IP are ambiguous',
    pods: [pod({ name: 'a' }), pod({ name: 'b' })],
    expect: 'ambiguous a,b',
  },
  {
    name: 'two live pods and a terminating one: ambiguous between the live ones',
    pods: [pod({ name: 'a' }), pod({ name: 'b' }), pod({ name: 'old', terminating: true })],
    expect: 'ambiguous a,b',
  },
  {
    name: 'two terminating pods alone are ambiguous',
    pods: [pod({ name: 'x', terminating: true }), pod({ name: 'y', terminating: true })],
    expect: 'ambiguous x,y',
  },
  {
    name: 'a hostNetwork pod on a pod IP does not make it ambiguous',
    pods: [pod({ name: 'agent', hostNetwork: true }), pod({ name: 'web' })],
    expect: 'found web',
  },
];

t.test('IP ownership: finished pods never own an IP, a terminating pod only alone, two live pods on one IP are ambiguous', async (t) => {
  for (const c of ownershipCases) {
    const index = new PodIndex();
    for (const p of c.pods) index.upsert(p);
    t.equal(summary(index.byIp('10.0.0.5')), c.expect, c.name);
  }
});

t.test('an unknown IP is unknown', async (t) => {
  t.equal(new PodIndex().byIp('10.9.9.9').kind, 'unknown');
});

t.test('an update that changes the IP moves the pod and frees the old IP', async (t) => {
  const index = new PodIndex();
  index.upsert(pod({ name: 'web', ip: '10.0.0.5' }));
  const touched = index.upsert(pod({ name: 'web', ip: '10.0.0.6' }));
  t.equal(summary(index.byIp('10.0.0.5')), 'unknown');
  t.equal(summary(index.byIp('10.0.0.6')), 'found web');
  t.same([...touched].sort(), ['10.0.0.5', '10.0.0.6'], 'both IPs reported as touched');
  t.equal(index.size, 1);
});

const dual = (fields: Partial<PodInfo> & { name: string }) => pod({ ip: '10.0.0.5', ips: ['10.0.0.5', 'fd00:10::5'], ...fields });

t.test('a dual-stack pod is found by each of its addresses, and counts once', async (t) => {
  const index = new PodIndex();
  const touched = index.upsert(dual({ name: 'web' }));
  t.equal(summary(index.byIp('10.0.0.5')), 'found web');
  t.equal(summary(index.byIp('fd00:10::5')), 'found web', 'a call from its IPv6 address');
  t.same([...touched].sort(), ['10.0.0.5', 'fd00:10::5']);
  t.equal(index.size, 1);
  t.same([...index.remove('uid-web')].sort(), ['10.0.0.5', 'fd00:10::5'], 'removal frees both');
  t.equal(summary(index.byIp('fd00:10::5')), 'unknown');
  t.equal(index.size, 0);
});

t.test('the ownership rules apply to each address on its own', async (t) => {
  const index = new PodIndex();
  // The IPv4 address was reused by a new single-stack pod while the old dual-stack pod terminates;
  // its IPv6 address is still only the old pod's.
  index.upsert(dual({ name: 'old', terminating: true }));
  index.upsert(pod({ name: 'new', ip: '10.0.0.5' }));
  t.equal(summary(index.byIp('10.0.0.5')), 'found new');
  t.equal(summary(index.byIp('fd00:10::5')), 'found old');
  // Two live pods on one IPv6 address are ambiguous there, and only there.
  index.upsert(pod({ name: 'other', ip: '10.0.0.9', ips: ['10.0.0.9', 'fd00:10::5'] }));
  index.upsert(dual({ name: 'old', terminating: false, ip: '10.0.0.8', ips: ['10.0.0.8', 'fd00:10::5'] }));
  t.equal(summary(index.byIp('fd00:10::5')), 'ambiguous old,other');
  t.equal(summary(index.byIp('10.0.0.9')), 'found other');
  t.equal(summary(index.byIp('10.0.0.5')), 'found new', 'old gave 10.0.0.5 up when its addresses changed');
  index.upsert(pod({ name: 'other', ip: '10.0.0.9', phase: 'Succeeded' }));
  t.equal(summary(index.byIp('fd00:10::5')), 'found old', 'a finished pod owns none of its addresses');
});

t.test('a pod that gains its IPv6 address later keeps its IPv4 one', async (t) => {
  const index = new PodIndex();
  index.upsert(pod({ name: 'web', ip: '10.0.0.5' }));
  const touched = index.upsert(dual({ name: 'web' }));
  t.same([...touched].sort(), ['10.0.0.5', 'fd00:10::5']);
  t.equal(summary(index.byIp('10.0.0.5')), 'found web');
  t.equal(summary(index.byIp('fd00:10::5')), 'found web');
  t.equal(index.size, 1);
  index.upsert(pod({ name: 'web', ip: '10.0.0.5' }));
  t.equal(summary(index.byIp('fd00:10::5')), 'unknown', 'and loses it again');
});

t.test('a pod without an IP is listed but owns nothing; once it gets its IP it owns it', async (t) => {
  const index = new PodIndex();
  const touched = index.upsert(pod({ name: 'web', ip: undefined, phase: 'Pending' }));
  t.equal(index.size, 0, 'size counts pods with an IP');
  t.same(index.pods().map((p) => p.name), ['web'], 'listed from the moment it is scheduled');
  t.same([...touched], [], 'no IP touched');
  t.same([...index.upsert(pod({ name: 'web', ip: '10.0.0.7' }))], ['10.0.0.7']);
  t.equal(summary(index.byIp('10.0.0.7')), 'found web');
  t.equal(index.size, 1);
  t.same(index.pods().map((p) => p.name), ['web'], 'still once');
});

t.test('hostNetwork and finished pods are not listed, with or without an IP', async (t) => {
  const index = new PodIndex();
  index.upsert(pod({ name: 'host', ip: undefined, hostNetwork: true, phase: 'Pending' }));
  index.upsert(pod({ name: 'done', ip: undefined, phase: 'Succeeded' }));
  index.upsert(pod({ name: 'starting', ip: undefined, phase: 'Pending' }));
  index.upsert(pod({ name: 'starting', ip: undefined, phase: 'Failed' }));
  t.same(index.pods(), [], 'a pod that failed before it got an IP leaves');
  t.same([...index.remove('uid-nothing')], []);
});

t.test('a pod that finishes leaves the index and hands its IP to the next pod', async (t) => {
  const index = new PodIndex();
  index.upsert(pod({ name: 'job' }));
  index.upsert(pod({ name: 'next' }));
  t.equal(summary(index.byIp('10.0.0.5')), 'ambiguous job,next');
  index.upsert(pod({ name: 'job', phase: 'Succeeded' }));
  t.equal(summary(index.byIp('10.0.0.5')), 'found next');
  t.equal(index.size, 1);
});

t.test('deleting the new pod leaves the terminating one as owner, deleting both leaves nothing', async (t) => {
  const index = new PodIndex();
  index.upsert(pod({ name: 'old', terminating: true }));
  index.upsert(pod({ name: 'new' }));
  index.remove('uid-new');
  t.equal(summary(index.byIp('10.0.0.5')), 'found old');
  index.remove('uid-old');
  t.equal(summary(index.byIp('10.0.0.5')), 'unknown');
  t.equal(index.pods().length, 0);
});

t.test('replace keeps exactly the listed pods: absent ones are dropped, present ones updated', async (t) => {
  const index = new PodIndex();
  index.upsert(pod({ name: 'gone', ip: '10.0.0.1' }));
  index.upsert(pod({ name: 'kept', ip: '10.0.0.2' }));
  const touched = index.replace([pod({ name: 'kept', ip: '10.0.0.3' }), pod({ name: 'new', ip: '10.0.0.4' })]);
  t.same(index.pods().map((p) => p.name).sort(), ['kept', 'new']);
  t.equal(summary(index.byIp('10.0.0.1')), 'unknown');
  t.equal(summary(index.byIp('10.0.0.2')), 'unknown');
  t.equal(summary(index.byIp('10.0.0.3')), 'found kept');
  t.same([...touched].sort(), ['10.0.0.1', '10.0.0.2', '10.0.0.3', '10.0.0.4']);
});

t.test('pods() is a stable snapshot until the index changes', async (t) => {
  const index = new PodIndex();
  index.upsert(pod({ name: 'a', ip: '10.0.0.1' }));
  const first = index.pods();
  t.equal(index.pods(), first, 'same array while nothing changed');
  index.upsert(pod({ name: 'b', ip: '10.0.0.2' }));
  t.not(index.pods(), first);
  t.equal(first.length, 1, 'an earlier snapshot is not mutated');
});

t.test('after any sequence of upserts and removes, every IP answers as ownerOf its claimants', async (t) => {
  const ips = ['10.0.0.1', '10.0.0.2', '10.0.0.3'];
  const op = fc.oneof(
    fc.record({
      kind: fc.constant('upsert' as const),
      name: fc.constantFrom('a', 'b', 'c', 'd', 'e'),
      ip: fc.option(fc.constantFrom(...ips), { nil: undefined }),
      phase: fc.constantFrom('Pending', 'Running', 'Succeeded', 'Failed'),
      terminating: fc.boolean(),
      hostNetwork: fc.boolean(),
    }),
    fc.record({ kind: fc.constant('remove' as const), name: fc.constantFrom('a', 'b', 'c', 'd', 'e') }),
  );
  fc.assert(
    fc.property(fc.array(op, { maxLength: 40 }), (ops) => {
      const index = new PodIndex();
      const truth = new Map<string, PodInfo>();
      for (const o of ops) {
        if (o.kind === 'remove') {
          index.remove(`uid-${o.name}`);
          truth.delete(o.name);
        } else {
          const p = pod({ name: o.name, ip: o.ip, phase: o.phase, terminating: o.terminating, hostNetwork: o.hostNetwork });
          index.upsert(p);
          truth.set(o.name, p);
        }
      }
      for (const ip of ips) {
        const claimants = [...truth.values()].filter(
          (p) => p.ip === ip && !p.hostNetwork && p.phase !== 'Succeeded' && p.phase !== 'Failed',
        );
        if (summary(index.byIp(ip)) !== summary(ownerOf(claimants))) return false;
      }
      const live = [...truth.values()].filter((p) => !p.hostNetwork && p.phase !== 'Succeeded' && p.phase !== 'Failed');
      if (index.pods().map((p) => p.name).sort().join() !== live.map((p) => p.name).sort().join()) return false;
      return index.size === live.filter((p) => p.ip !== undefined).length;
    }),
  );
  t.pass('index (owners, pods() and size) agrees with a from-scratch computation');
});
