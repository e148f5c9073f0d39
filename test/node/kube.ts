/**
 * What the real-node suite uses to drive its cluster, as a cluster admin would: kubectl, helm,
 * the node's iptables, and the cluster's facts from the env file `cluster.sh up` wrote. The suite
 * runs inside the node's namespaces (run.sh enters them), so the API server, the agent's ports and
 * the pods' addresses are all reachable directly.
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface NodeCluster {
  kubeconfig: string;
  kubectl: string;
  helm: string;
  nodeName: string;
  nodeIp: string;
  podCidr: string;
  stsEndpoint: string;
  nodeImdsLog: string;
}

/** The cluster `cluster.sh up` started, from its env file ($CORRIDOR_NODE_STATE/env). */
export function nodeCluster(): NodeCluster {
  const state = process.env.CORRIDOR_NODE_STATE ?? '/tmp/corridor-node';
  const env = Object.fromEntries(
    readFileSync(`${state}/env`, 'utf8')
      .split('\n')
      .filter((line) => line.includes('='))
      .map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]),
  ) as Record<string, string>;
  const need = (key: string): string => {
    const value = env[key];
    if (value === undefined) throw new Error(`${state}/env has no ${key}`);
    return value;
  };
  const helm = process.env.HELM;
  if (helm === undefined) throw new Error('HELM is not set (run through test/node/run.sh)');
  return {
    kubeconfig: need('KUBECONFIG'),
    kubectl: need('KUBECTL'),
    helm,
    nodeName: need('NODE_NAME'),
    nodeIp: need('NODE_IP'),
    podCidr: need('POD_CIDR'),
    stsEndpoint: need('STS_ENDPOINT'),
    nodeImdsLog: need('NODE_IMDS_LOG'),
  };
}

export interface CommandResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a command to completion; never throws for a non-zero exit (the test decides). */
export async function command(file: string, args: readonly string[], options: { input?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<CommandResult> {
  const child = run(file, [...args], { env: { ...process.env, ...options.env }, timeout: options.timeoutMs ?? 240_000, maxBuffer: 64 << 20 });
  if (options.input !== undefined) {
    child.child.stdin?.end(options.input);
  }
  try {
    const { stdout, stderr } = await child;
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code?: number | string; stdout?: string; stderr?: string; message: string };
    return { code: typeof failed.code === 'number' ? failed.code : 1, stdout: failed.stdout ?? '', stderr: failed.stderr ?? failed.message };
  }
}

/** kubectl against the cluster; throws with kubectl's message unless `allowFailure`. */
export async function kubectl(cluster: NodeCluster, args: readonly string[], input?: string, allowFailure = false): Promise<CommandResult> {
  const result = await command(cluster.kubectl, args, { input, env: { KUBECONFIG: cluster.kubeconfig } });
  if (result.code !== 0 && !allowFailure) throw new Error(`kubectl ${args.join(' ')}: ${result.stderr.trim()}`);
  return result;
}

/** helm against the cluster; throws with helm's message on failure. */
export async function helm(cluster: NodeCluster, args: readonly string[]): Promise<CommandResult> {
  const result = await command(cluster.helm, args, { env: { KUBECONFIG: cluster.kubeconfig } });
  if (result.code !== 0) throw new Error(`helm ${args.join(' ')}: ${result.stderr.trim()}`);
  return result;
}

/** `kubectl apply` of objects given as data. */
export async function apply(cluster: NodeCluster, ...objects: object[]): Promise<void> {
  await kubectl(cluster, ['apply', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'List', items: objects }));
}

/** The node's iptables and ip6tables rules without counters, for before/after comparisons. */
export async function firewallRules(): Promise<string> {
  const tables: string[] = [];
  for (const save of ['iptables-save', 'ip6tables-save']) {
    const result = await command(save, []);
    tables.push(
      result.stdout
        .split('\n')
        .filter((line) => !line.startsWith('#'))
        .map((line) => line.replace(/\[\d+:\d+\]/g, '[]'))
        .join('\n'),
    );
  }
  return tables.join('\n');
}

/** What the node IMDS stand-in was asked, from its JSON-lines log (appended across its restarts), oldest first. */
export function nodeImdsRequests(cluster: NodeCluster): { method: string; path: string; from: string }[] {
  return readFileSync(cluster.nodeImdsLog, 'utf8')
    .split('\n')
    .filter((line) => line.startsWith('{"method"'))
    .map((line) => JSON.parse(line) as { method: string; path: string; from?: string })
    .map(({ method, path, from }) => ({ method, path, from: from?.replace(/^::ffff:/, '') ?? '' }));
}

/** Addresses (IPv4) of the node IMDS stand-in's callers. */
export function nodeImdsCallers(cluster: NodeCluster): string[] {
  return nodeImdsRequests(cluster).map((request) => request.from);
}

/** Whether an IPv4 address is inside a /24 such as the pod CIDR 10.244.0.0/24. */
export function inSlash24(address: string, cidr: string): boolean {
  return address.split('.').slice(0, 3).join('.') === cidr.split('.').slice(0, 3).join('.');
}
