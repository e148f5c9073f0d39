import t from 'tap';
import { DEFAULT_SHAPE, formatFigures, formatModel, formatTargets, measureRollout, prepareLoadCluster, type LoadShape } from '../../bench/api-server-load.js';
import { findHelm } from '../helpers/helm.js';
import { cachedControlPlaneBinaries } from '../helpers/kube-apiserver.js';

/**
 * `npm run bench:cluster`'s own code at a tiny size, so the bench cannot rot: the real
 * kube-apiserver and etcd (the peers' cached builds, never built here) with API Priority and
 * Fairness and the chart's flow schema, 50 namespaces, 5 agents in 2 processes started over 2 s,
 * a change stream of 10 ticks. Needs kube-apiserver, etcd (scripts/build-kube-apiserver.sh,
 * scripts/build-etcd.sh) and helm; skips without them.
 */

const SHAPE: LoadShape = { ...DEFAULT_SHAPE, namespaces: 50, rolloutMs: 2000, readyTimeoutMs: 30_000, changes: 10 };
const NODES = 5;

const control = cachedControlPlaneBinaries();
const helm = findHelm(t);
const skip = !control.ok ? control.reason : !helm.ok ? helm.reason : false;

t.test(`the cluster bench measures a rollout of ${NODES} agents and a change stream on a real kube-apiserver`, { skip }, async (t) => {
  if (!control.ok || !helm.ok) return;
  const load = await prepareLoadCluster(t, control.binaries, helm.bin, SHAPE);
  const figures = await measureRollout(t, load, NODES, SHAPE);
  t.comment(formatFigures([figures]));

  t.equal(figures.ready, NODES, 'every agent is ready');
  t.equal(figures.refusedByServer, 0, 'API Priority and Fairness refused nothing');
  t.equal(figures.throttledByAgents, 0, 'no agent saw a 429');
  t.equal(figures.stampsReachingAll, SHAPE.changes, 'every stamped namespace change reached every agent');
  t.ok(figures.toAllMs.p50 >= 0 && figures.toAllMs.p99 >= figures.toAllMs.p50, `times to all agents: p50 ${figures.toAllMs.p50} ms, p99 ${figures.toAllMs.p99} ms`);
  // 50 namespaces and 30 pods, uncompressed (under the server's gzip threshold), TLS included: tens of KiB.
  t.ok(figures.startupBytesPerAgent > 10_000 && figures.startupBytesPerAgent < 1024 * 1024, `${Math.round(figures.startupBytesPerAgent)} bytes per agent at start-up`);
  t.ok(figures.connectionsPerAgent >= 1, `${figures.connectionsPerAgent} connections per agent`);
  t.ok(figures.apiServerCpuSeconds > 0, `kube-apiserver used ${figures.apiServerCpuSeconds} CPU-s for the rollout`);
  t.ok(figures.bytesPerAgentPerNamespaceChange > 0, 'the agents read the namespace changes');

  const targets = formatTargets([figures]).join('\n');
  t.match(targets, /every agent ready within 30\.0 s +pass/);
  t.match(targets, /the target names N=1,000, not run/);
  t.match(formatModel([figures], SHAPE.namespaces).join('\n'), /5,000 nodes, 150,000 pods/);
});
