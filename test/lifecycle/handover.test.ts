import t from 'tap';
import { awaitSuccessor } from '../../src/lifecycle/index.js';
import { FakeTime } from '../helpers/fake-time.js';

t.test('a stopping agent waits until its successor listens, checking every 100 ms', async (t) => {
  const time = new FakeTime();
  let listens = false;
  const handover = awaitSuccessor({ successorListens: () => listens, timeoutMs: 15_000, clock: time, scheduler: time });
  await time.advance(2_000);
  listens = true;
  await time.advance(100);
  t.same(await handover, { outcome: 'successor', waitedMs: 2_100 });
});

t.test('with no successor it gives up after the timeout, to the millisecond', async (t) => {
  const time = new FakeTime();
  const handover = awaitSuccessor({ successorListens: () => false, timeoutMs: 1_050, clock: time, scheduler: time });
  await time.advance(1_050);
  t.same(await handover, { outcome: 'timeout', waitedMs: 1_050 });
  t.equal(time.pendingTimers, 0);
});

t.test('a timeout of 0 does not wait, and a successor already listening is found at once', async (t) => {
  const time = new FakeTime();
  t.same(await awaitSuccessor({ successorListens: () => false, timeoutMs: 0, clock: time, scheduler: time }), { outcome: 'timeout', waitedMs: 0 });
  t.same(await awaitSuccessor({ successorListens: () => true, timeoutMs: 15_000, clock: time, scheduler: time }), { outcome: 'successor', waitedMs: 0 });
});
