import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { DaemonSet } from 'kubernetes-models/apps/v1';
import { ValidatingAdmissionPolicy, ValidatingAdmissionPolicyBinding } from 'kubernetes-models/admissionregistration.k8s.io/v1';
import { FlowSchema, PriorityLevelConfiguration } from 'kubernetes-models/flowcontrol.apiserver.k8s.io/v1';
import { ClusterRole, ClusterRoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1';
import { ConfigMap, Namespace, Service, ServiceAccount } from 'kubernetes-models/v1';
import { PodMonitor, PrometheusRule } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1';
import { parseAllDocuments } from 'yaml';
import { ROOT, type TestScope } from './peers.js';

export { ROOT };
export const CHART = join(ROOT, 'helm/corridor');
const RELEASE = 'corridor';
export const NAMESPACE = 'corridor';

/** The helm version scripts/install-helm.sh builds. */
const HELM_VERSION = 'v3.22.0';
/** A first build of helm downloads its modules and compiles for a few minutes. */
const BUILD_TIMEOUT_MS = 20 * 60_000;

/** A rendered Kubernetes object, as plain data straight from YAML. */
export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  [field: string]: unknown;
}

export interface HelmResult {
  status: number;
  stdout: string;
  stderr: string;
}

export type HelmLookup = { ok: true; bin: string } | { ok: false; reason: string };

let lookup: HelmLookup | undefined;

/**
 * The helm binary: $HELM, else what scripts/install-helm.sh prints (the cached build, or a
 * fresh `go install` when Go is present and the cache is empty, which takes minutes: the test's
 * timeout is lifted meanwhile). Without Go and without a cached helm the caller skips, saying why.
 */
export function findHelm(t: Pick<TestScope, 'setTimeout'>): HelmLookup {
  if (lookup === undefined) {
    t.setTimeout(BUILD_TIMEOUT_MS);
    lookup = locateHelm();
    t.setTimeout(Number(process.env.TAP_TIMEOUT ?? 30) * 1000);
  }
  return lookup;
}

function locateHelm(): HelmLookup {
  if (process.env.HELM) return existsSync(process.env.HELM) ? { ok: true, bin: process.env.HELM } : { ok: false, reason: `HELM=${process.env.HELM} does not exist` };
  const script = spawnSync('bash', [join(ROOT, 'scripts/install-helm.sh')], { cwd: ROOT, encoding: 'utf8', timeout: BUILD_TIMEOUT_MS });
  const bin = script.stdout.trim().split('\n').at(-1) ?? '';
  if (script.status === 0 && existsSync(bin)) return { ok: true, bin };
  const cache = process.env.CORRIDOR_CACHE ?? join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'corridor');
  const reason =
    script.status === 3
      ? `helm ${HELM_VERSION} is not in ${cache}/bin and Go is not installed to build it (bash scripts/install-helm.sh)`
      : `scripts/install-helm.sh failed (exit ${String(script.status)}): ${script.stderr.trim().split('\n').slice(-3).join(' | ')}`;
  return { ok: false, reason };
}

export function helm(bin: string, args: readonly string[]): HelmResult {
  const result = spawnSync(bin, args, { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });
  return { status: result.status ?? -1, stdout: result.stdout ?? '', stderr: result.stderr ?? String(result.error ?? '') };
}

/** `helm template` of the chart with `--set` pairs (and any extra args); throws on failure. */
export function renderChart(bin: string, set: Readonly<Record<string, string | number | boolean>> = {}, extra: readonly string[] = []): K8sObject[] {
  const result = helm(bin, ['template', RELEASE, CHART, '--namespace', NAMESPACE, ...setArgs(set), ...extra]);
  if (result.status !== 0) throw new Error(`helm template failed: ${result.stderr}`);
  return parseObjects(result.stdout);
}

export function setArgs(set: Readonly<Record<string, string | number | boolean>>): string[] {
  return Object.entries(set).flatMap(([key, value]) => [typeof value === 'string' ? '--set-string' : '--set', `${key}=${String(value)}`]);
}

/** Every non-empty YAML document of a multi-document stream. */
function parseObjects(text: string): K8sObject[] {
  return parseAllDocuments(text)
    .map((doc) => {
      if (doc.errors.length > 0) throw new Error(`YAML error: ${doc.errors.map((e) => e.message).join('; ')}`);
      return doc.toJS() as K8sObject | null;
    })
    .filter((object): object is K8sObject => object !== null && typeof object === 'object');
}

export function readObjects(file: string): K8sObject[] {
  return parseObjects(readFileSync(file, 'utf8'));
}

export function only(objects: readonly K8sObject[], kind: string): K8sObject {
  const matching = objects.filter((o) => o.kind === kind);
  if (matching.length !== 1) throw new Error(`expected one ${kind}, rendered ${matching.length}`);
  return matching[0] as K8sObject;
}

type Model = new (data: Record<string, unknown>) => { validate(): void };

/** The kubernetes-models class of every kind the chart may render, by apiVersion and kind. */
const MODELS: Readonly<Record<string, Model>> = {
  'v1/ServiceAccount': ServiceAccount,
  'v1/Service': Service,
  'v1/ConfigMap': ConfigMap,
  'v1/Namespace': Namespace,
  'rbac.authorization.k8s.io/v1/ClusterRole': ClusterRole,
  'rbac.authorization.k8s.io/v1/ClusterRoleBinding': ClusterRoleBinding as unknown as Model,
  'apps/v1/DaemonSet': DaemonSet,
  'flowcontrol.apiserver.k8s.io/v1/FlowSchema': FlowSchema,
  'flowcontrol.apiserver.k8s.io/v1/PriorityLevelConfiguration': PriorityLevelConfiguration,
  'admissionregistration.k8s.io/v1/ValidatingAdmissionPolicy': ValidatingAdmissionPolicy,
  'admissionregistration.k8s.io/v1/ValidatingAdmissionPolicyBinding': ValidatingAdmissionPolicyBinding,
  'monitoring.coreos.com/v1/PodMonitor': PodMonitor as unknown as Model,
  'monitoring.coreos.com/v1/PrometheusRule': PrometheusRule as unknown as Model,
};

/** Validates an object against its Kubernetes (or Prometheus Operator) schema; returns the problem, or undefined. */
export function schemaProblem(object: K8sObject): string | undefined {
  const Model = MODELS[`${object.apiVersion}/${object.kind}`];
  if (Model === undefined) return `no model for ${object.apiVersion} ${object.kind}`;
  try {
    new Model(object).validate();
    return undefined;
  } catch (error) {
    return error instanceof Error ? error.message : String(error);
  }
}
