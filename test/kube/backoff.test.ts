import t from 'tap';
import { backoffDelay } from '../../src/kube/backoff.js';

const options = { initialMs: 100, maxMs: 1000 };

t.test('the delay doubles per consecutive failure and stops at the cap', async (t) => {
  const ceilings = [0, 1, 2, 3, 4, 5, 40].map((n) => backoffDelay(n, options, () => 1));
  t.same(ceilings, [100, 200, 400, 800, 1000, 1000, 1000]);
});

t.test('jitter keeps each delay between half its ceiling and the ceiling', async (t) => {
  t.equal(backoffDelay(2, options, () => 0), 200);
  t.equal(backoffDelay(2, options, () => 0.5), 300);
  for (let i = 0; i < 200; i++) {
    const delay = backoffDelay(3, options);
    t.ok(delay >= 400 && delay <= 800, `${delay} within [400, 800]`);
  }
});
