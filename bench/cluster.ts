import { makeNamespace, makePod, startFakeKubeApi, type FakeKubeApi } from '../demo/index.js';
import { loopbackAgentFlags, writeTempKubeconfig } from '../demo/loopback.js';

export const NODE = 'bench-node';
const ACCOUNT = '123456789012';
export const BASE_ROLE_ARN = `arn:aws:iam::${ACCOUNT}:role/`;
export const CREDENTIALS_PATH = '/latest/meta-data/iam/security-credentials/';

type KubeObject = Parameters<FakeKubeApi['upsert']>[0];

export interface BenchCluster {
  kube: FakeKubeApi;
  kubeconfig: string;
  close(): Promise<void>;
}

/** A Kubernetes API stand-in on 127.0.0.1 holding `objects`, and a kubeconfig file for it. */
export async function startCluster(objects: readonly KubeObject[]): Promise<BenchCluster> {
  const kube = await startFakeKubeApi({ objects });
  const kubeconfig = writeTempKubeconfig(kube.kubeConfigText(), 'corridor-bench-');
  return {
    kube,
    kubeconfig: kubeconfig.path,
    async close() {
      await kube.close();
      kubeconfig.remove();
    },
  };
}

/** `corridor agent` flags for a node on loopback; nothing is ever proxied to a real IMDS. */
export function agentArgs(kubeconfig: string, stsEndpoint: string): string[] {
  return loopbackAgentFlags({ nodeName: NODE, kubeconfig, stsEndpoint, baseRoleArn: BASE_ROLE_ARN });
}

export const HOT_ROLE = 'bench-reader';
/** The pod autocannon speaks for: it connects from 127.0.0.1. */
export const HOT_POD_IP = '127.0.0.1';
/** Pods the fixed-rate client speaks for, each from its own source address. */
export const RATE_POD_IPS = ['127.0.0.11', '127.0.0.12', '127.0.0.13', '127.0.0.14', '127.0.0.15', '127.0.0.16', '127.0.0.17', '127.0.0.18'];

/** One namespace whose default role every pod gets; the hot pod and the fixed-rate pods. */
export function hotPathObjects(): KubeObject[] {
  return [
    makeNamespace('bench', { 'iam.amazonaws.com/role': HOT_ROLE, 'iam.amazonaws.com/allowed-roles': '["bench-*"]' }),
    makePod({ name: 'hot', namespace: 'bench', ip: HOT_POD_IP, nodeName: NODE }),
    ...RATE_POD_IPS.map((ip, i) => makePod({ name: `steady-${i}`, namespace: 'bench', ip, nodeName: NODE })),
  ];
}

export interface ScaleShape {
  pods: number;
  namespaces: number;
  roles: number;
}

export interface ScalePod {
  ip: string;
  namespace: string;
  role: string;
}

/**
 * A busy node in a big cluster: `namespaces` namespaces, each with a default role out of `roles`
 * and an allowed-roles list with a glob and a shared ARN glob; `pods` pods on this node spread
 * over as many namespaces (half take the namespace default, half pick an allowed role by
 * annotation), as many again on other nodes (filtered out by the field selector).
 */
export function scaleObjects(shape: ScaleShape): { objects: KubeObject[]; pods: ScalePod[] } {
  const objects: KubeObject[] = [];
  const roleOf = (ns: number) => `team-${ns % shape.roles}`;
  for (let ns = 0; ns < shape.namespaces; ns++) {
    objects.push(
      makeNamespace(`ns-${ns}`, {
        'iam.amazonaws.com/role': roleOf(ns),
        'iam.amazonaws.com/allowed-roles': JSON.stringify([`${roleOf(ns)}-*`, `arn:aws:iam::${ACCOUNT}:role/shared/*`]),
      }),
    );
  }
  const pods: ScalePod[] = [];
  const stride = Math.max(1, Math.floor(shape.namespaces / shape.pods));
  for (let i = 0; i < shape.pods; i++) {
    const ns = (i * stride) % shape.namespaces;
    const picks = i % 2 === 1;
    const role = picks ? `${roleOf(ns)}-writer` : roleOf(ns);
    const ip = `127.0.${1 + Math.floor(i / 250)}.${1 + (i % 250)}`;
    const annotations: Record<string, string> = picks ? { 'iam.amazonaws.com/role': role } : {};
    objects.push(makePod({ name: `app-${i}`, namespace: `ns-${ns}`, ip, nodeName: NODE, annotations }));
    objects.push(makePod({ name: `elsewhere-${i}`, namespace: `ns-${ns}`, ip: `10.9.${Math.floor(i / 250)}.${i % 250}`, nodeName: 'other-node' }));
    pods.push({ ip, namespace: `ns-${ns}`, role });
  }
  return { objects, pods };
}
