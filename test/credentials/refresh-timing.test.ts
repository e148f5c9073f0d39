import fc from 'fast-check';
import t from 'tap';
import { parseDuration } from '../../src/time/index.js';
import {
  DEFAULT_MIN_REMAINING,
  DEFAULT_REFRESH_BEFORE,
  DEFAULT_SESSION_DURATION,
  nextRetryDelay,
  refreshTime,
  retryPolicy,
  slowRetryDelay,
} from '../../src/credentials/refresh-timing.js';

const MIN = 60_000;
const HOUR = 60 * MIN;

t.test('a session starts renewing refresh-before ahead of its expiry, up to 10% of refresh-before earlier', async (t) => {
  const expiration = 10 * HOUR;
  t.equal(refreshTime(expiration, 45 * MIN, () => 0), expiration - 45 * MIN, 'no jitter drawn: exactly refresh-before ahead');
  t.equal(refreshTime(expiration, 45 * MIN, () => 0.5), expiration - 45 * MIN - 2.25 * MIN);
  t.ok(refreshTime(expiration, 45 * MIN, () => 0.999) > expiration - 49.5 * MIN, 'never more than 10% earlier');
  t.equal(refreshTime(expiration, 10_000, () => 0.5), expiration - 10_500, 'the jitter scales with refresh-before');
});

t.test('at the defaults a 1h session renews 10.5 to 15 min in, and min-remaining < refresh-before < session-duration', async (t) => {
  const duration = parseDuration(DEFAULT_SESSION_DURATION) as number;
  const refreshBefore = parseDuration(DEFAULT_REFRESH_BEFORE) as number;
  const minRemaining = parseDuration(DEFAULT_MIN_REMAINING) as number;
  t.same([duration, refreshBefore, minRemaining], [HOUR, 45 * MIN, 25 * MIN]);
  t.ok(minRemaining < refreshBefore && refreshBefore < duration);
  for (const draw of [0, 0.5, 0.999]) {
    const renewsAfter = refreshTime(duration, refreshBefore, () => draw);
    t.ok(renewsAfter > 10.5 * MIN && renewsAfter <= 15 * MIN, `draw ${draw}: renews after ${renewsAfter / MIN} min`);
  }
});

t.test('at the defaults (refresh-before 45m, min-remaining 25m): base 2 s, cap 4 min, slow 4 min', async (t) => {
  t.same(retryPolicy(45 * MIN, 25 * MIN), { baseMs: 2000, capMs: 4 * MIN, slowMs: 4 * MIN });
  t.same(retryPolicy(50 * MIN, 10 * MIN), { baseMs: 2000, capMs: 8 * MIN, slowMs: 5 * MIN }, 'slow retries stay at most 5 min apart');
  t.same(retryPolicy(2000, 1000), { baseMs: 1000, capMs: 1000, slowMs: 1000 }, 'tiny windows still get a sane floor');
});

t.test('delays start at a few seconds, grow, and stop at the cap', async (t) => {
  const policy = retryPolicy(45 * MIN, 25 * MIN);
  const first = nextRetryDelay(policy, undefined, () => 0.5);
  t.equal(first, 4000, 'between base and 3 x base');
  t.equal(nextRetryDelay(policy, first, () => 0.5), 7000);
  t.equal(nextRetryDelay(policy, 3 * MIN, () => 0.999), 4 * MIN);
  t.equal(nextRetryDelay(policy, 3 * MIN, () => 0), 2000, 'full decorrelated range reaches back to base');
  t.equal(slowRetryDelay(policy, () => 0), 4 * MIN);
  t.equal(slowRetryDelay(policy, () => 0.999), Math.round(4 * MIN * (1 - 0.0999)));
});

t.test('whatever the jitter draws, at least 5 attempts start between refresh and the min-remaining floor', async (t) => {
  fc.assert(
    fc.property(
      fc.integer({ min: 2, max: 120 }).chain((minRemaining) => fc.tuple(fc.constant(minRemaining), fc.integer({ min: minRemaining + 1, max: 720 }))),
      fc.infiniteStream(fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true })),
      ([minRemainingMin, refreshBeforeMin], draws) => {
        const policy = retryPolicy(refreshBeforeMin * MIN, minRemainingMin * MIN);
        const window = (refreshBeforeMin - minRemainingMin) * MIN;
        const iterator = draws[Symbol.iterator]();
        let at = 0;
        let attempts = 0;
        let previous: number | undefined;
        while (at < window) {
          attempts++;
          previous = nextRetryDelay(policy, previous, () => iterator.next().value as number);
          at += previous;
          if (previous < policy.baseMs || previous > policy.capMs) return false;
        }
        return attempts >= 5;
      },
    ),
  );
  t.pass('property held');
});
