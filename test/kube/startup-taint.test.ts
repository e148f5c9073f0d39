import t from 'tap';
import { removeStartupTaint } from '../../src/kube/startup-taint.js';
import { createLogger } from '../../src/log/index.js';
import { FakeTime } from '../helpers/fake-time.js';
import { sink } from '../helpers/log-sink.js';
import { ScriptedKube } from '../helpers/scripted-kube.js';

const KEY = 'corridor.io/agent-not-ready';
const OURS = { key: KEY, effect: 'NoExecute' };
const NOT_READY = { key: 'node.kubernetes.io/not-ready', effect: 'NoSchedule' };
const OTHER = { key: 'team.example/gpu', value: 'true', effect: 'NoSchedule' };

function setup(taints: Array<{ key: string; effect: string; value?: string }>) {
  const kube = new ScriptedKube();
  kube.setNode('node-a', taints);
  kube.setNode('node-b', [OURS]);
  const time = new FakeTime();
  const logs = sink();
  const start = () =>
    removeStartupTaint({ transport: kube, nodeName: 'node-a', key: KEY, clock: time, scheduler: time, logger: createLogger('debug', logs), random: () => 0.5 });
  return { kube, time, logs: logs.lines, start };
}

t.test('the start-up taint leaves the agent\'s own node with one guarded patch; other taints and other nodes stay', async (t) => {
  const { kube, start } = setup([NOT_READY, OURS, OTHER]);
  t.equal(await start().done, 'removed');
  t.same(kube.taintsOf('node-a'), [NOT_READY, OTHER], 'every other taint is kept, in order');
  t.same(kube.taintsOf('node-b'), [OURS], 'another node is never touched');
  t.same(kube.nodePatches, [
    {
      name: 'node-a',
      patch: [
        { op: 'test', path: '/spec/taints', value: [NOT_READY, OURS, OTHER] },
        { op: 'replace', path: '/spec/taints', value: [NOT_READY, OTHER] },
      ],
      status: 200,
    },
  ], 'the patch first tests the taints it read');
});

t.test('a node without the taint is left alone: no patch at all', async (t) => {
  const { kube, start, logs } = setup([OTHER]);
  t.equal(await start().done, 'absent');
  t.same(kube.nodePatches, []);
  t.ok(logs.some((line) => line.msg === 'no start-up taint on this node'));
});

t.test('a taint added between read and patch is never lost: the test fails (422) and the removal reads again', async (t) => {
  const { kube, time, start, logs } = setup([OURS]);
  // Another controller taints the node right after our first read.
  kube.afterNodeRead = () => {
    kube.afterNodeRead = undefined;
    kube.setNode('node-a', [OURS, OTHER]);
  };
  const removal = start();
  await time.advance(60_000);
  t.equal(await removal.done, 'removed');
  t.same(kube.taintsOf('node-a'), [OTHER], 'the taint added meanwhile is kept');
  t.same(kube.nodePatches.map((p) => p.status), [422, 200], 'the first patch failed its test, the second went through');
  t.match(logs.find((line) => line.level === 'warn'), { status: 422, msg: /changed meanwhile/ });
});

t.test('API errors and refusals are retried with backoff until the taint is gone', async (t) => {
  const { kube, time, start, logs } = setup([OURS]);
  kube.nodeFailures.push(503, 403, 422);
  const removal = start();
  let outcome: string | undefined;
  void removal.done.then((value) => (outcome = value));
  await time.advance(0);
  t.equal(outcome, undefined, 'not removed while the API server fails');
  t.equal(kube.taintsOf('node-a')?.length, 1);
  await time.advance(60_000);
  t.equal(outcome, 'removed');
  t.same(kube.taintsOf('node-a'), []);
  const warnings = logs.filter((line) => line.level === 'warn');
  t.same(warnings.map((line) => line.status), [503, 403, 422], 'each failure is logged with its status');
  t.match(warnings[2], { msg: /changed meanwhile/ });
  t.ok((warnings[1]?.delayMs as number) > (warnings[0]?.delayMs as number), 'the delay grows');
});

t.test('stop ends the retries: the taint stays (no pods on a node whose agent is going away)', async (t) => {
  const { kube, time, start } = setup([OURS]);
  for (let i = 0; i < 5; i++) kube.nodeFailures.push(503);
  const removal = start();
  await time.advance(0);
  removal.stop();
  t.equal(await removal.done, 'stopped');
  t.equal(time.pendingTimers, 0, 'no retry is left scheduled');
  await time.advance(600_000);
  t.same(kube.taintsOf('node-a'), [OURS]);
});

t.test('a node GET turned away with 429 and Retry-After is tried again no sooner than it asked, jittered', async (t) => {
  const { kube, time, logs, start } = setup([OURS]);
  const getNode = kube.getNode.bind(kube);
  let refusals = 1;
  kube.getNode = (name) => {
    if (refusals-- > 0) return Promise.reject(Object.assign(new Error('get node node-a: HTTP 429 TooManyRequests'), { statusCode: 429, retryAfterMs: 4000 }));
    return getNode(name);
  };
  const removal = start();
  // 4 s asked, spread by half of it again with random() 0.5: 6 s; the backoff alone would be about 375 ms.
  await time.advance(5999);
  t.same(kube.taintsOf('node-a'), [OURS], 'not before the Retry-After and its jitter');
  await time.advance(1);
  t.equal(await removal.done, 'removed');
  t.match(logs.find((line) => line.level === 'warn'), { status: 429, retryAfterMs: 4000, delayMs: 6000 });
});
