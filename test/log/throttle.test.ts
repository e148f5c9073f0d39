import t from 'tap';
import { createLogger, createLogThrottle } from '../../src/log/index.js';
import { FakeTime } from '../helpers/fake-time.js';
import { LogSink } from '../helpers/log-sink.js';

function throttled() {
  const time = new FakeTime();
  const sink = new LogSink();
  const throttle = createLogThrottle({ logger: createLogger('info', sink), level: 'warn', scheduler: time, intervalMs: 10_000 });
  return { time, sink, throttle };
}

t.test('the first line of a kind is written at once; a flood of it writes one line per interval with the count', async (t) => {
  const { time, sink, throttle } = throttled();
  for (let i = 0; i < 300; i++) throttle.note('passthrough', { path: '/latest/meta-data/placement/region', n: i }, 'metadata passthrough failed');
  t.equal(sink.lines.length, 1, 'one line for 300 failures');
  t.match(sink.lines[0], { level: 'warn', n: 0, msg: 'metadata passthrough failed' });
  t.notOk('repeated' in (sink.lines[0] ?? {}), 'the first one is the plain line');
  await time.advance(10_000);
  t.equal(sink.lines.length, 2);
  t.match(sink.lines[1], { level: 'warn', n: 299, repeated: 299, withinSeconds: 10, msg: 'metadata passthrough failed' });
  for (let i = 0; i < 50; i++) throttle.note('passthrough', { n: i }, 'metadata passthrough failed');
  t.equal(sink.lines.length, 2, 'still flooding: nothing until the interval ends');
  await time.advance(10_000);
  t.match(sink.lines[2], { repeated: 50 });
});

t.test('a kind quiet for a whole interval starts over with a plain line; kinds are counted apart', async (t) => {
  const { time, sink, throttle } = throttled();
  throttle.note('a', {}, 'first a');
  throttle.note('b', {}, 'first b');
  t.same(sink.lines.map((l) => l.msg), ['first a', 'first b']);
  await time.advance(10_000);
  t.equal(sink.lines.length, 2, 'no summary when nothing repeated');
  throttle.note('a', {}, 'a again');
  t.equal(sink.lines.at(-1)?.msg, 'a again', 'written at once after a quiet interval');
  throttle.close();
  t.equal(time.pendingTimers, 0, 'close cancels the summaries');
});
