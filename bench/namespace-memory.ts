import { fork } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import v8 from 'node:v8';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Registry } from 'prom-client';
import { makeNamespace, startFakeKubeApi, type FakeKubeApi } from '../demo/index.js';
import type { KubeObject } from '../demo/fake-kube-api.js';
import { parseAgentConfig } from '../src/config/index.js';
import { createHttpTransport } from '../src/kube/api/http-transport.js';
import type { KubeConnection } from '../src/kube/index.js';
import { createPodDirectory } from '../src/kube/index.js';
import { createLogger } from '../src/log/index.js';
import { createMetrics } from '../src/metrics/index.js';
import { systemClock, systemScheduler } from '../src/time/index.js';
import { agentArgs } from './cluster.js';
import { summariseHeapSnapshot } from './heap-snapshot.js';
import { env } from './knobs.js';
import { spread, type Spread } from './load.js';

/**
 * `npm run bench:namespaces`: the agent's heap per namespace of the cluster. The agent's own
 * Kubernetes code (HTTP transport, reflectors, pod directory) lists and watches N namespaces from
 * the API stand-in, in a process of its own that holds nothing else; the heap after a full GC,
 * ready, minus the heap before it started, divided by N. Two ways side by side, interleaved over
 * BENCH_NAMESPACE_ROUNDS rounds (default 5), at BENCH_NAMESPACE_SIZES (default 10000,50000):
 * - `all-annotations`: the caches keep every annotation of every namespace (as before);
 * - `decision-keys`: they keep only the annotations decisions read (the agent's way now).
 * Namespaces look like a real API server's: uid, resourceVersion, creationTimestamp, the
 * kubernetes.io/metadata.name label, managedFields; half carry a kubectl last-applied-configuration
 * and two foreign annotations, one in five corridor's role and allowed-roles.
 */

const ROUNDS = Math.max(1, env('BENCH_NAMESPACE_ROUNDS', 5));
const SIZES = (process.env.BENCH_NAMESPACE_SIZES ?? '10000,50000').split(',').map(Number);
const MODES = ['all-annotations', 'decision-keys'] as const;
type Mode = (typeof MODES)[number];

interface ChildStart {
  connection: KubeConnection;
  mode: Mode;
  annotationKeys: string[];
}

interface ChildResult {
  namespaces: number;
  heapBefore: number;
  heapAfter: number;
  readyMs: number;
}

export interface NamespaceMemoryRow {
  namespaces: number;
  mode: Mode;
  bytesPerNamespace: Spread;
  readyMs: Spread;
}

const KB = 1024;

/** A namespace as kube-apiserver serves it (the stand-in adds resourceVersion). */
function realisticNamespace(i: number): KubeObject {
  const name = `team-${i.toString(36)}-${(i * 7919).toString(16).padStart(6, '0')}`;
  const annotations: Record<string, string> = {};
  if (i % 2 === 0) {
    annotations['kubectl.kubernetes.io/last-applied-configuration'] =
      `{"apiVersion":"v1","kind":"Namespace","metadata":{"annotations":{},"labels":{"team":"t${i % 97}"},"name":"${name}"}}\n`;
    annotations['scheduler.alpha.kubernetes.io/node-selector'] = `pool=general-${i % 5}`;
    annotations['owner.example.com/contact'] = `team-${i % 97}@example.com`;
  }
  if (i % 5 === 0) {
    annotations['iam.amazonaws.com/role'] = `team-${i % 97}-app`;
    annotations['iam.amazonaws.com/allowed-roles'] = `["team-${i % 97}-*"]`;
  }
  const object = makeNamespace(name, annotations);
  const time = new Date(Date.UTC(2026, 0, 1) + i * 1000).toISOString().replace(/\.\d+Z$/, 'Z');
  object.metadata = {
    ...object.metadata,
    uid: `${(i * 2654435761 >>> 0).toString(16).padStart(8, '0')}-1c2d-4e5f-8a9b-${i.toString(16).padStart(12, '0')}`,
    creationTimestamp: time,
    labels: { 'kubernetes.io/metadata.name': name, team: `t${i % 97}` },
    managedFields: [
      {
        manager: 'kubectl-client-side-apply',
        operation: 'Update',
        apiVersion: 'v1',
        time,
        fieldsType: 'FieldsV1',
        fieldsV1: { 'f:metadata': { 'f:labels': { '.': {}, 'f:kubernetes.io/metadata.name': {}, 'f:team': {} } } },
      },
    ],
  };
  (object as KubeObject & { spec: unknown }).spec = { finalizers: ['kubernetes'] };
  return object;
}

async function gcHeap(): Promise<number> {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc === undefined) throw new Error('run with --expose-gc');
  for (let i = 0; i < 4; i++) {
    await new Promise<void>((resolve) => setImmediate(resolve));
    gc();
  }
  return process.memoryUsage().heapUsed;
}

/** In the child: one agent's pod directory, ready, and what its heap grew by. */
async function measureChild(start: ChildStart): Promise<ChildResult> {
  const transport = createHttpTransport(start.connection);
  const directory = createPodDirectory({
    transport,
    nodeName: 'bench-node',
    watchServiceAccounts: false,
    ...(start.mode === 'decision-keys' ? { annotationKeys: start.annotationKeys } : {}),
    scheduler: systemScheduler,
    clock: systemClock,
    metrics: createMetrics(new Registry(), 'bench', { defaultMetrics: false }),
    logger: createLogger('silent'),
  });
  const heapBefore = await gcHeap();
  const started = performance.now();
  directory.start();
  await directory.whenReady();
  const readyMs = performance.now() - started;
  const heapAfter = await gcHeap();
  if (process.env.BENCH_NAMESPACE_SNAPSHOT === '1') printHeapSummary(start.mode);
  // Read through the directory's own lookup, so nothing it holds is collectable early.
  let namespaces = 0;
  for (let i = 0; directory.namespace(realisticNamespace(i).metadata.name) !== undefined; i++) namespaces++;
  directory.stop();
  transport.close?.();
  return { namespaces, heapBefore, heapAfter, readyMs };
}

/** BENCH_NAMESPACE_SNAPSHOT=1: what holds the child's heap, by constructor and by retainer. */
function printHeapSummary(mode: Mode): void {
  const dir = mkdtempSync(join(os.tmpdir(), 'corridor-ns-heap-'));
  try {
    const summary = summariseHeapSnapshot(readFileSync(v8.writeHeapSnapshot(join(dir, 'heap.heapsnapshot')), 'utf8'), 12);
    const lines = [
      `[bench:namespaces] ${mode}: heap snapshot ${summary.totalMb.toFixed(1)} MB`,
      ...summary.byName.map((e) => `  ${e.selfMb.toFixed(2)} MB  ${e.count}  ${e.name}`),
      ...summary.retainers.slice(0, 12).map((e) => `  retains ${e.retainedMb.toFixed(2)} MB  ${e.name}`),
    ];
    process.stderr.write(`${lines.join('\n')}\n`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function runChild(start: ChildStart): Promise<ChildResult> {
  return new Promise((resolve, reject) => {
    const child = fork(fileURLToPath(import.meta.url), ['child'], { execArgv: ['--expose-gc'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    child.once('message', (result: ChildResult) => {
      child.kill();
      resolve(result);
    });
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`child exited with ${code}`)));
    child.send(start);
  });
}

export async function measureNamespaceMemory(sizes: readonly number[] = SIZES, rounds = ROUNDS): Promise<NamespaceMemoryRow[]> {
  const parsed = parseAgentConfig(agentArgs('/dev/null', 'http://127.0.0.1:9'), {});
  if (!parsed.ok) throw new Error(parsed.errors.join('; '));
  const annotationKeys = Object.values<string>({ ...parsed.config.annotations });
  const rows: NamespaceMemoryRow[] = [];
  for (const size of sizes) {
    const api: FakeKubeApi = await startFakeKubeApi({ objects: Array.from({ length: size }, (_, i) => realisticNamespace(i)) });
    const samples = new Map<Mode, { bytes: number[]; readyMs: number[] }>(MODES.map((mode) => [mode, { bytes: [], readyMs: [] }]));
    try {
      for (let round = 0; round < rounds; round++) {
        // Alternate which mode goes first, so a drift in the machine's load favours neither.
        for (const mode of round % 2 === 0 ? MODES : [...MODES].reverse()) {
          const result = await runChild({ connection: api.connection(), mode, annotationKeys });
          if (result.namespaces !== size) throw new Error(`${mode}: the directory holds ${result.namespaces} of ${size} namespaces`);
          const sample = samples.get(mode)!;
          sample.bytes.push((result.heapAfter - result.heapBefore) / size);
          sample.readyMs.push(result.readyMs);
          process.stderr.write(`[bench:namespaces] ${size} namespaces, ${mode}, round ${round + 1}: ${((result.heapAfter - result.heapBefore) / size).toFixed(0)} B/namespace\n`);
        }
      }
    } finally {
      await api.close();
    }
    for (const mode of MODES) {
      const sample = samples.get(mode)!;
      rows.push({ namespaces: size, mode, bytesPerNamespace: spread(sample.bytes), readyMs: spread(sample.readyMs) });
    }
  }
  return rows;
}

export function formatNamespaceMemory(rows: readonly NamespaceMemoryRow[]): string {
  const lines = ['| namespaces | caches keep | heap per namespace, median (min-max) | whole cache | ready after |', '|---|---|---|---|---|'];
  for (const row of rows) {
    const b = row.bytesPerNamespace;
    lines.push(
      `| ${row.namespaces.toLocaleString('en-US')} | ${row.mode} | ${b.median.toFixed(0)} B (${b.min.toFixed(0)}-${b.max.toFixed(0)}) | ` +
        `${((b.median * row.namespaces) / KB / KB).toFixed(1)} MB | ${row.readyMs.median.toFixed(0)} ms |`,
    );
  }
  return lines.join('\n');
}

if (process.argv[2] === 'child') {
  process.once('message', (start: ChildStart) => {
    void measureChild(start).then((result) => process.send?.(result));
  });
} else if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const rows = await measureNamespaceMemory();
  process.stdout.write(`${formatNamespaceMemory(rows)}\n${JSON.stringify(rows)}\n`);
}
