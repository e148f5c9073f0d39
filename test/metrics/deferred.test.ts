import { Counter, Histogram, Registry } from 'prom-client';
import t from 'tap';
import { DeferredCounts, FastHistogram } from '../../src/metrics/deferred.js';

const BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];

t.test('the fast histogram exports exactly what a prom-client histogram does for the same observations', async (t) => {
  const ours = new Registry();
  const theirs = new Registry();
  const fast = new FastHistogram({ name: 'x_seconds', help: 'h', labelNames: ['route'], buckets: BUCKETS, registers: [ours] });
  const reference = new Histogram({ name: 'x_seconds', help: 'h', labelNames: ['route'], buckets: BUCKETS, registers: [theirs] });
  const samples: Array<[string, number]> = [['credentials', 0.0003], ['credentials', 0.0005], ['token', 0.7], ['credentials', 0.004], ['other', 3], ['token', 0.0011], ['credentials', 0]];
  const handles = new Map<string, ReturnType<FastHistogram<'route'>['handle']>>();
  for (const [route, value] of samples) {
    let handle = handles.get(route);
    if (handle === undefined) handles.set(route, (handle = fast.handle({ route })));
    handle.observe(value);
    reference.labels(route).observe(value);
  }
  t.equal(await ours.metrics(), await theirs.metrics());
  t.same(await fast.get(), await reference.get());
  ours.resetMetrics();
  theirs.resetMetrics();
  handles.get('token')!.observe(0.002);
  reference.labels('token').observe(0.002);
  t.equal(await ours.metrics(), await theirs.metrics(), 'after a reset, series start again with their next observation');
  t.throws(() => fast.handle({ nope: 'x' } as never), /not included/);
  t.throws(() => handles.get('token')!.observe(Number.NaN), /not a valid number/);
});

t.test('deferred increments show up whenever the counter is read, and only then cost a prom-client call', async (t) => {
  const registry = new Registry();
  const deferred = new DeferredCounts();
  const counter = deferred.counter({ name: 'y_total', help: 'h', labelNames: ['route', 'code'], registers: [registry] });
  const ok = deferred.handle(counter, { route: 'credentials', code: '200' });
  const missing = deferred.handle(counter, { route: 'other', code: '404' });
  t.equal(await registry.metrics(), '# HELP y_total h\n# TYPE y_total counter\n', 'no series before any increment');
  ok.inc();
  ok.inc();
  missing.inc();
  t.match(await registry.metrics(), /y_total\{route="credentials",code="200"\} 2\ny_total\{route="other",code="404"\} 1/);
  ok.inc();
  t.equal((await counter.get()).values.find((v) => v.labels.code === '200')?.value, 3, 'get() folds too');
  counter.inc({ route: 'credentials', code: '200' });
  t.match(await registry.metrics(), /y_total\{route="credentials",code="200"\} 4/, 'direct increments still add up');
  t.throws(() => deferred.handle(new Counter({ name: 'z_total', help: 'h', registers: [] }), {}), /no deferred increments/);
});
