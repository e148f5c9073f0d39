import t from 'tap';
import { IpWaiters } from '../../src/kube/ip-waiters.js';
import type { PodInfo, PodLookup } from '../../src/kube/types.js';
import { podInfo } from '../helpers/scripted-kube.js';
import { FakeTime, settle } from '../helpers/fake-time.js';

const web: PodInfo = podInfo({ uid: 'u1', name: 'web', ip: '10.0.0.5' });

function setup() {
  const time = new FakeTime();
  const known = new Map<string, PodLookup>();
  const waiters = new IpWaiters(time, (ip) => known.get(ip) ?? { kind: 'unknown' });
  return { time, known, waiters };
}

function track<T>(promise: Promise<T>) {
  const state: { settled: boolean; value?: T } = { settled: false };
  void promise.then((value) => {
    state.settled = true;
    state.value = value;
  });
  return state;
}

t.test('a known IP answers at once without a timer', async (t) => {
  const { time, known, waiters } = setup();
  known.set('10.0.0.5', { kind: 'found', pod: web });
  t.same(await waiters.wait('10.0.0.5', 1000), { kind: 'found', pod: web });
  t.equal(time.pendingTimers, 0);
});

t.test('a waiter wakes when its IP changes to something known, before the timeout', async (t) => {
  const { time, known, waiters } = setup();
  const result = track(waiters.wait('10.0.0.5', 1000));
  waiters.changed(['10.0.0.5']);
  await settle();
  t.notOk(result.settled, 'a change that leaves the IP unknown does not wake it');
  known.set('10.0.0.5', { kind: 'found', pod: web });
  waiters.changed(['10.0.0.9', '10.0.0.5']);
  await settle();
  t.ok(result.settled);
  t.same(result.value, { kind: 'found', pod: web });
  t.equal(time.pendingTimers, 0, 'its timer is cancelled');
  t.equal(waiters.size, 0);
});

t.test('a waiter gets unknown at its timeout, not before', async (t) => {
  const { time, waiters } = setup();
  const result = track(waiters.wait('10.0.0.5', 1000));
  await time.advance(999);
  t.notOk(result.settled);
  await time.advance(1);
  t.ok(result.settled);
  t.same(result.value, { kind: 'unknown' });
});

t.test('releaseAll answers every waiter with what is known now', async (t) => {
  const { waiters } = setup();
  const a = track(waiters.wait('10.0.0.1', 60_000));
  const b = track(waiters.wait('10.0.0.2', 60_000));
  waiters.releaseAll();
  await settle();
  t.ok(a.settled && b.settled);
  t.equal(waiters.size, 0);
});

t.test('a zero timeout answers at once', async (t) => {
  const { waiters } = setup();
  t.same(await waiters.wait('10.0.0.1', 0), { kind: 'unknown' });
});
