import { writeFileSync } from 'node:fs';
import https from 'node:https';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import t, { type Test } from 'tap';
import { CoreV1Api } from '@kubernetes/client-node';
import { resolveKubeConnection } from '../../src/kube/api/connection.js';
import { createHttpTransport } from '../../src/kube/api/http-transport.js';
import type { KubeTransport } from '../../src/kube/api/transport-types.js';
import { createPodDirectory } from '../../src/kube/index.js';
import { parseNamespace, parsePod, parseServiceAccount } from '../../src/kube/parse.js';
import { createLogger } from '../../src/log/index.js';
import { createMetrics } from '../../src/metrics/index.js';
import { systemClock, systemScheduler } from '../../src/time/index.js';
import { within } from '../helpers/fake-kube-api.js';
import { controlPlaneBinaries, startControlPlane, type ControlPlane } from '../helpers/kube-apiserver.js';
import { sink } from '../helpers/log-sink.js';
import { reportPeerWhenPassing, skipPeer } from '../helpers/peers.js';
import { tcpRelay } from '../helpers/tcp-relay.js';

/**
 * The agent's own Kubernetes client (the thin node:http transport and its reflectors) against a
 * real kube-apiserver on etcd: 2,000 namespaces listed in pages of 500 with continue tokens, and
 * gzip on the wire, its bytes counted by a TCP relay between the client and the server (TLS
 * passes through it untouched).
 */

const PEER = 'kube-apiserver (list pages, gzip)';
const NAMESPACES = 2000;
const control = controlPlaneBinaries(t);

/** The admin's kubeconfig pointed at `server`, as a file the agent's connection code reads. */
async function adminConnection(t: Test, plane: ControlPlane, server: string) {
  const token = plane.admin().getCurrentUser()?.token ?? '';
  const path = join(t.testdir({}), 'kubeconfig');
  writeFileSync(path, plane.kubeConfigText(token, server));
  return { connection: await resolveKubeConnection(path, { env: {} }), token };
}

/** A namespace list as any client without Accept-Encoding gets it: the bytes on the wire, uncompressed. */
function plainList(server: string, token: string, ca: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = https.get(`${server}/api/v1/namespaces`, { ca, headers: { authorization: `Bearer ${token}`, accept: 'application/json' }, agent: false }, (response) => {
      if (response.headers['content-encoding'] !== undefined) reject(new Error(`compressed without being asked: ${response.headers['content-encoding']}`));
      response.resume();
      response.on('end', () => resolve());
    });
    req.on('error', reject);
  });
}

/** One GET with `accept`: the answer's bytes and content type. */
function getAs(plane: ControlPlane, token: string, path: string, accept: string): Promise<{ body: Buffer; type: string }> {
  return new Promise((resolve, reject) => {
    const req = https.get(`${plane.server}${path}`, { ca: plane.caPem, headers: { authorization: `Bearer ${token}`, accept }, agent: false }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => resolve({ body: Buffer.concat(chunks), type: String(response.headers['content-type']) }));
    });
    req.on('error', reject);
  });
}

/** The agent's transport, telling the test the name of each object its watches delivered, once the agent has handled it. */
function tellingWatches(http: KubeTransport, handled: (name: string) => void): KubeTransport {
  return {
    ...http,
    watch: (resource, request, handlers) =>
      http.watch(resource, request, {
        event: (type, object) => {
          handlers.event(type, object);
          handled(String((object as { metadata?: { name?: string } }).metadata?.name));
        },
        done: (error) => handlers.done(error),
      }),
  };
}

if (!control.ok) skipPeer(t, PEER, control.reason);
else {
  const { binaries } = control;
  t.test('the agent\'s list and watch client against a real kube-apiserver: pages and gzip', async (t) => {
    const plane = await startControlPlane(t, binaries);
    reportPeerWhenPassing(t, PEER, () => plane.version);
    const core = plane.admin().makeApiClient(CoreV1Api);
    const names = Array.from({ length: NAMESPACES }, (_, i) => `corridor-ns-${String(i).padStart(4, '0')}`);
    // Twenty at a time: a few seconds on a busy machine.
    for (let i = 0; i < names.length; i += 20) {
      await Promise.all(names.slice(i, i + 20).map((name) => core.createNamespace({ body: { metadata: { name, annotations: { 'iam.amazonaws.com/role': `role-${name}` } } } })));
    }
    const total = (await core.listNamespace()).items.length;
    t.ok(total >= NAMESPACES, `${total} namespaces`);

    await t.test('a list in pages of 500 follows continue tokens: every namespace once, one snapshot', async (t) => {
      const { connection } = await adminConnection(t, plane, plane.server);
      const transport = createHttpTransport(connection);
      t.teardown(() => transport.close?.());
      const signal = new AbortController().signal;
      const seen: string[] = [];
      let page = await transport.list('namespaces', { limit: 500, signal });
      const snapshot = page.resourceVersion;
      let pages = 1;
      for (const item of page.items) seen.push(String((item as { metadata: { name: string } }).metadata.name));
      while (page.continue !== undefined) {
        page = await transport.list('namespaces', { limit: 500, continue: page.continue, signal });
        t.equal(page.resourceVersion, snapshot, `page ${++pages} is the first page's snapshot`);
        for (const item of page.items) seen.push(String((item as { metadata: { name: string } }).metadata.name));
      }
      t.equal(pages, Math.ceil(total / 500), `${pages} pages`);
      t.equal(new Set(seen).size, total, 'every namespace exactly once');
      const cached = await transport.list('namespaces', { resourceVersion: '0', limit: 500, signal });
      t.comment(`resourceVersion=0 with limit 500: ${cached.items.length} objects, ${cached.continue === undefined ? 'whole (the watch cache ignores the limit)' : 'paged from the watch cache'}`);
    });

    await t.test('the pod directory lists 2,000 namespaces from the watch cache (resourceVersion=0, limit ignored) and watches from that list', async (t) => {
      const { connection } = await adminConnection(t, plane, plane.server);
      const http = createHttpTransport(connection);
      let sawLate: () => void = () => {};
      const lateHandled = new Promise<void>((resolve) => (sawLate = resolve));
      const transport = tellingWatches(http, (name) => name === 'after-the-list' && sawLate());
      const logs = sink();
      const directory = createPodDirectory({
        transport,
        nodeName: 'node-a',
        watchServiceAccounts: false,
        scheduler: systemScheduler,
        clock: systemClock,
        metrics: createMetrics(new Registry(), 'test', { defaultMetrics: false }),
        logger: createLogger('debug', logs),
      });
      t.teardown(() => {
        directory.stop();
        http.close?.();
      });
      directory.start();
      await within(directory.whenReady(), 60_000, 'the directory ready');
      const listed = await logs.waitFor((line) => line.msg === 'listed' && line.resource === 'namespaces');
      t.comment(`namespaces listed in ${String(listed.pages)} page(s) with resourceVersion=0`);
      t.equal(listed.objects, total);
      t.equal(directory.namespace('corridor-ns-1999')?.annotations['iam.amazonaws.com/role'], 'role-corridor-ns-1999');
      await core.createNamespace({ body: { metadata: { name: 'after-the-list', annotations: { 'iam.amazonaws.com/role': 'late' } } } });
      await within(lateHandled, 30_000, 'the watch to deliver a namespace created after the list');
      t.equal(directory.namespace('after-the-list')?.annotations['iam.amazonaws.com/role'], 'late', 'the watch, started from the list\'s resourceVersion, delivered what came after');
    });

    await t.test('gzip on the wire: the transport\'s list of 2,000 namespaces costs a fraction of the uncompressed bytes', async (t) => {
      const relay = await tcpRelay(t, new URL(plane.server));
      const { connection, token } = await adminConnection(t, plane, relay.server);
      const transport = createHttpTransport(connection);
      t.teardown(() => transport.close?.());
      const before = relay.received();
      const list = await transport.list('namespaces', { signal: new AbortController().signal });
      t.ok(list.items.length > NAMESPACES);
      const gzipped = relay.received() - before;
      const start = relay.received();
      await plainList(relay.server, token, plane.caPem);
      const plain = relay.received() - start;
      t.comment(`${list.items.length} namespaces: ${plain} bytes uncompressed, ${gzipped} bytes with gzip (${(plain / gzipped).toFixed(1)}x less)`);
      t.ok(gzipped * 3 < plain, 'gzip cut the bytes at least threefold');
    });

    // The server answers the transport's lists and watches in protobuf; pods, namespaces and ServiceAccounts read as their JSON does.
    await t.test('protobuf lists and watch events read exactly as JSON', async (t) => {
      const { connection, token } = await adminConnection(t, plane, plane.server);
      const transport = createHttpTransport(connection);
      t.teardown(() => transport.close?.());
      const signal = new AbortController().signal;
      const json = async (path: string) => JSON.parse((await getAs(plane, token, path, 'application/json')).body.toString('utf8')) as { items: unknown[] };
      await core.createNamespace({ body: { metadata: { name: 'wire', annotations: { 'iam.amazonaws.com/allowed-roles': '["a","b"]' } } } });
      await core.createNamespacedServiceAccount({ namespace: 'wire', body: { metadata: { name: 'spark', annotations: { 'eks.amazonaws.com/role-arn': 'arn:aws:iam::123456789012:role/a' } } } });
      for (const [name, hostNetwork] of [['wire-pod', false], ['wire-host', true]] as const) {
        await core.createNamespacedPod({
          namespace: 'wire',
          body: { metadata: { name, annotations: { 'iam.amazonaws.com/role': 'a' } }, spec: { nodeName: 'node-wire', hostNetwork, serviceAccountName: 'spark', containers: [{ name: 'app', image: 'registry.invalid/app' }] } },
        });
      }
      // Two addresses, as a dual-stack CNI reports them (no kubelet here: the status written directly).
      const pod = await core.readNamespacedPod({ name: 'wire-pod', namespace: 'wire' });
      pod.status = { ...pod.status, phase: 'Running', podIP: '10.9.0.1', podIPs: [{ ip: '10.9.0.1' }, { ip: 'fd00:9::1' }], hostIP: '127.0.0.1', hostIPs: [{ ip: '127.0.0.1' }] };
      await core.replaceNamespacedPodStatus({ name: 'wire-pod', namespace: 'wire', body: pod });
      const byUid = <T extends { uid?: string; name: string }>(items: readonly unknown[], parse: (raw: unknown) => T) => items.map(parse).sort((a, b) => (a.uid ?? a.name).localeCompare(b.uid ?? b.name));
      const selector = 'spec.nodeName=node-wire';
      const pods = await transport.list('pods', { fieldSelector: selector, signal });
      t.same(byUid(pods.items, parsePod), byUid((await json(`/api/v1/pods?fieldSelector=${encodeURIComponent(selector)}`)).items, parsePod), 'pods: IPs of both families, phase, node, hostNetwork, ServiceAccount, annotations');
      t.same(byUid(pods.items, parsePod).find((pod) => pod.name === 'wire-pod')?.ips, ['10.9.0.1', 'fd00:9::1'], 'the dual-stack pod\'s two addresses');
      const namespaces = await transport.list('namespaces', { signal });
      t.same(byUid(namespaces.items, parseNamespace), byUid((await json('/api/v1/namespaces')).items, parseNamespace), `${namespaces.items.length} namespaces`);
      const accounts = await transport.list('serviceaccounts', { signal });
      t.same(byUid(accounts.items, parseServiceAccount), byUid((await json('/api/v1/serviceaccounts')).items, parseServiceAccount), 'ServiceAccounts');
      for (const path of ['/api/v1/namespaces', `/api/v1/pods?fieldSelector=${encodeURIComponent(selector)}&watch=true&timeoutSeconds=1`]) {
        t.match((await getAs(plane, token, path, 'application/vnd.kubernetes.protobuf, application/json')).type, /^application\/vnd\.kubernetes\.protobuf/, `${path.split('?')[0]}${path.includes('watch') ? ' (watch)' : ''}: the server answers protobuf to what the transport accepts`);
      }

      // A watch from the list: an annotation change, then a graceful delete (no kubelet finishes it).
      const events: Array<{ type: string; object: unknown }> = [];
      let changed: () => void = () => {};
      const twoEvents = new Promise<void>((resolve) => (changed = resolve));
      const handle = await transport.watch('pods', { fieldSelector: selector, resourceVersion: pods.resourceVersion ?? '', timeoutSeconds: 60 }, {
        event: (type, object) => {
          if (type === 'BOOKMARK') return;
          events.push({ type, object });
          if (events.length === 2) changed();
        },
        done: () => undefined,
      });
      t.teardown(() => handle.abort());
      await core.patchNamespacedPod({ name: 'wire-pod', namespace: 'wire', body: [{ op: 'add', path: '/metadata/annotations/changed', value: 'yes' }] });
      await core.deleteNamespacedPod({ name: 'wire-pod', namespace: 'wire' });
      await within(twoEvents, 30_000, 'two watch events');
      const now = (await json(`/api/v1/pods?fieldSelector=${encodeURIComponent('metadata.name=wire-pod')}`)).items[0];
      t.same(events.map((e) => e.type), ['MODIFIED', 'MODIFIED'], 'two MODIFIED events');
      t.equal(parsePod(events[0]?.object).annotations.changed, 'yes', 'the annotation change');
      t.same(parsePod(events[1]?.object), parsePod(now), 'the graceful delete: the same pod as JSON, terminating');
      t.equal(parsePod(events[1]?.object).terminating, true, 'read as terminating');
    });

    await t.test('an agent\'s pod directory holds one TCP connection to the API server: its lists and three watches are streams of one HTTP/2 session', async (t) => {
      const relay = await tcpRelay(t, new URL(plane.server));
      const { connection } = await adminConnection(t, plane, relay.server);
      const http = createHttpTransport(connection);
      const delivered = new Map<string, () => void>();
      const deliveredOf = (name: string) => new Promise<void>((resolve) => delivered.set(name, resolve));
      const transport = tellingWatches(http, (name) => delivered.get(name)?.());
      const directory = createPodDirectory({
        transport,
        nodeName: 'node-a',
        watchServiceAccounts: true,
        scheduler: systemScheduler,
        clock: systemClock,
        metrics: createMetrics(new Registry(), 'test', { defaultMetrics: false }),
        logger: createLogger('silent'),
      });
      t.teardown(() => {
        directory.stop();
        http.close?.();
      });
      directory.start();
      await within(directory.whenReady(), 60_000, 'the directory ready');
      // Each watch open and delivering: a namespace, a ServiceAccount in it and a pod on the node.
      const seen = ['one-connection', 'one-connection-sa', 'one-connection-pod'].map(deliveredOf);
      await core.createNamespace({ body: { metadata: { name: 'one-connection' } } });
      await core.createNamespacedServiceAccount({ namespace: 'one-connection', body: { metadata: { name: 'one-connection-sa' } } });
      await core.createNamespacedPod({
        namespace: 'one-connection',
        body: { metadata: { name: 'one-connection-pod' }, spec: { nodeName: 'node-a', containers: [{ name: 'app', image: 'registry.invalid/app' }] } },
      });
      await within(Promise.all(seen), 30_000, 'the three watches to deliver');
      t.comment(`lists of pods, namespaces and serviceaccounts, then their three watches: ${relay.connections()} TCP connection(s) to the API server`);
      t.equal(relay.connections(), 1, 'one connection (over HTTP/1.1: one per open watch, and the lists\' own)');
    });
  });
}
