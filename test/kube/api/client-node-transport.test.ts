import t from 'tap';
import { createClientNodeTransport } from '../../../src/kube/api/client-node-transport.js';
import { httpStatusOf, type WatchHandlers } from '../../../src/kube/api/transport-types.js';
import { clientNodeKubeConfig } from '../../helpers/client-node.js';
import { fakeKubeApi, makePod, within } from '../../helpers/fake-kube-api.js';

// The client-node transport is the fallback for kubeconfig users the http transport cannot
// authenticate (exec plugins, auth-provider); it must keep listing and watching.

const WAIT_MS = 5000;

/** What these tests read of a listed or watched object. */
interface Named {
  metadata: { name: string };
}

function recorder() {
  const events: Array<{ type: string; object: Named }> = [];
  let onEvent: (() => void) | undefined;
  let resolveDone!: (error: unknown) => void;
  const done = new Promise<unknown>((resolve) => (resolveDone = resolve));
  const handlers: WatchHandlers = {
    event(type, object) {
      events.push({ type, object: object as Named });
      onEvent?.();
    },
    done: (error) => resolveDone(error),
  };
  const count = (n: number) =>
    within(new Promise<void>((resolve) => {
      const check = () => events.length >= n && resolve();
      onEvent = check;
      check();
    }), WAIT_MS, `${n} events`);
  return { handlers, events, count, done: () => within(done, WAIT_MS, 'done') };
}

t.test('the client-node fallback lists with a field selector and watches until the server closes the stream', async (t) => {
  const api = await fakeKubeApi(t, { objects: [makePod({ name: 'a', ip: '10.0.0.1' }), makePod({ name: 'b', ip: '10.0.0.2', nodeName: 'node-b' })] });
  const transport = createClientNodeTransport(clientNodeKubeConfig(t, api));
  const list = await transport.list('pods', { fieldSelector: 'spec.nodeName=node-a', resourceVersion: '0', signal: new AbortController().signal });
  t.same((list.items as Named[]).map((pod) => pod.metadata.name), ['a']);
  t.equal(list.resourceVersion, api.resourceVersion);

  const w = recorder();
  const opened = api.nextRequest('watch', 'pods');
  await transport.watch('pods', { fieldSelector: 'spec.nodeName=node-a', resourceVersion: api.resourceVersion, timeoutSeconds: 60 }, w.handlers);
  await within(opened, WAIT_MS, 'the watch request');
  api.upsert(makePod({ name: 'c', ip: '10.0.0.3' }));
  api.deletePod('default', 'a');
  await w.count(2);
  t.same(w.events.map((e) => [e.type, e.object.metadata.name]), [['ADDED', 'c'], ['DELETED', 'a']]);
  api.closeWatches();
  t.equal(await w.done(), null);
});

t.test('the client-node fallback reports 410 Gone as an HTTP status', async (t) => {
  const api = await fakeKubeApi(t);
  api.upsert(makePod({ name: 'a', ip: '10.0.0.1' }));
  api.expireHistory({ as: 'http' });
  const w = recorder();
  await createClientNodeTransport(clientNodeKubeConfig(t, api)).watch('pods', { resourceVersion: '1000', timeoutSeconds: 60 }, w.handlers);
  t.equal(httpStatusOf(await w.done()), 410);
});
