import t from 'tap';
import { formatDuration, parseDuration } from '../../src/time/index.js';

t.test('durations accept units, combinations and bare seconds', async (t) => {
  t.equal(parseDuration('90s'), 90_000);
  t.equal(parseDuration('15m'), 900_000);
  t.equal(parseDuration('1h'), 3_600_000);
  t.equal(parseDuration('1h30m'), 5_400_000);
  t.equal(parseDuration('250ms'), 250);
  t.equal(parseDuration('3600'), 3_600_000);
  t.equal(parseDuration(' 2.5s '), 2500);
});

t.test('anything else is not a duration', async (t) => {
  for (const bad of ['', 'h', '1d', '-5s', '1 h', 'soon', '1h-5m']) t.equal(parseDuration(bad), undefined, bad);
});

t.test('formatted durations parse back to the same value', async (t) => {
  for (const ms of [3_600_000, 2_700_000, 90_000, 1500]) t.equal(parseDuration(formatDuration(ms)), ms);
});
