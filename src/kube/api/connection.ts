import { existsSync, readFileSync } from 'node:fs';
import { isIPv6 } from 'node:net';
import { homedir } from 'node:os';
import { delimiter, dirname, join, resolve } from 'node:path';
import { firstLine, isRecord, text, type Json } from '../values.js';

/** How to reach and authenticate to the API server, resolved once at start-up. */
export interface KubeConnection {
  /** Base URL without a trailing slash, e.g. https://10.96.0.1:443 (may carry a path prefix). */
  server: string;
  /** PEM of the CA(s) that sign the server's certificate; absent: the system's roots. */
  ca?: string;
  /** A fixed bearer token. */
  token?: string;
  /** A file holding the bearer token, re-read when it changes (projected tokens rotate hourly); wins over `token`. */
  tokenFile?: string;
  /** PEM client certificate and key. */
  cert?: string;
  key?: string;
  insecureSkipTlsVerify: boolean;
  /** SNI and verification name when it differs from the server's host. */
  tlsServerName?: string;
  /** Where this came from, for logs: `in-cluster` or the kubeconfig file(s). */
  source: string;
  /**
   * Set when the kubeconfig user authenticates in a way only @kubernetes/client-node implements
   * (an exec plugin such as `aws eks get-token`, an auth-provider, basic auth, a proxy-url): why.
   */
  needsClientNode?: string;
}

export interface KubeConnectionSources {
  env?: NodeJS.ProcessEnv;
  homeDir?: string;
  /** Where the pod's ServiceAccount is mounted (token, ca.crt); tests point it elsewhere. */
  serviceAccountDir?: string;
}

const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

interface Named {
  value: Json;
  /** Directory of the file that defined it: relative paths in a kubeconfig are relative to it. */
  dir: string;
}

interface MergedConfig {
  currentContext: string | undefined;
  clusters: Map<string, Named>;
  users: Map<string, Named>;
  contexts: Map<string, Named>;
}

/** Where the cluster configuration is: in-cluster (the pod's ServiceAccount) or kubeconfig file(s). */
export type KubeConfigLocation = { kind: 'in-cluster' } | { kind: 'files'; files: string[] };

/**
 * Where to find the API server: the explicit file; else in-cluster (the DaemonSet's
 * ServiceAccount); else $KUBECONFIG or ~/.kube/config. Unlike client-node's default, which falls
 * back to http://localhost:8080 without a word, finding nothing is an error. Both this module
 * and client-node's loader (kubeconfig.ts) follow this one order.
 */
export function locateKubeConfig(path: string | undefined, sources: { env?: NodeJS.ProcessEnv; homeDir?: string } = {}): KubeConfigLocation {
  const env = sources.env ?? process.env;
  if (path !== undefined && path !== '') return { kind: 'files', files: [path] };
  if (env.KUBERNETES_SERVICE_HOST) return { kind: 'in-cluster' };
  const listed = (env.KUBECONFIG ?? '').split(delimiter).filter(Boolean);
  if (listed.length > 0) return { kind: 'files', files: listed };
  const file = join(sources.homeDir ?? homedir(), '.kube', 'config');
  if (!existsSync(file)) {
    throw new Error(
      'no Kubernetes configuration found: pass --kubeconfig, run in a cluster (KUBERNETES_SERVICE_HOST), or create ~/.kube/config',
    );
  }
  return { kind: 'files', files: [file] };
}

/** The connection settings for a kubeconfig path (or the defaults; see locateKubeConfig). Rejects with a message fit for a start-up failure. */
export async function resolveKubeConnection(path?: string, sources: KubeConnectionSources = {}): Promise<KubeConnection> {
  const location = locateKubeConfig(path, sources);
  if (location.kind === 'in-cluster') return inCluster(sources.env ?? process.env, sources.serviceAccountDir ?? SERVICE_ACCOUNT_DIR);
  return fromKubeconfig(location.files);
}

function inCluster(env: NodeJS.ProcessEnv, serviceAccountDir: string): KubeConnection {
  const host = env.KUBERNETES_SERVICE_HOST as string;
  const port = env.KUBERNETES_SERVICE_PORT || '443';
  // As client-node's loadFromCluster: the well-known plain-HTTP ports mean http.
  const scheme = port === '80' || port === '8080' || port === '8001' ? 'http' : 'https';
  const server = `${scheme}://${isIPv6(host) ? `[${host}]` : host}:${port}`;
  return {
    server,
    ca: scheme === 'https' ? readPem(join(serviceAccountDir, 'ca.crt'), 'the in-cluster CA') : undefined,
    tokenFile: join(serviceAccountDir, 'token'),
    insecureSkipTlsVerify: false,
    source: 'in-cluster',
  };
}

/** Like kubectl: the first file that sets current-context decides it, and the first definition of a name wins. */
async function fromKubeconfig(files: readonly string[]): Promise<KubeConnection> {
  const merged: MergedConfig = { currentContext: undefined, clusters: new Map(), users: new Map(), contexts: new Map() };
  for (const file of files) {
    const doc = await loadFile(file);
    const dir = dirname(resolve(file));
    const current = doc['current-context'];
    if (merged.currentContext === undefined && typeof current === 'string' && current !== '') merged.currentContext = current;
    collect(merged.clusters, doc.clusters, 'cluster', dir);
    collect(merged.users, doc.users, 'user', dir);
    collect(merged.contexts, doc.contexts, 'context', dir);
  }
  return resolveCurrent(merged, files.join(delimiter));
}

async function loadFile(file: string): Promise<Json> {
  let doc: unknown;
  try {
    doc = await parseKubeconfigText(readFileSync(file, 'utf8'));
  } catch (error) {
    throw new Error(`cannot load kubeconfig ${file}: ${firstLine(error)}`);
  }
  // An empty file is an empty configuration, as kubectl reads it.
  if (doc === null || doc === undefined) return {};
  if (!isRecord(doc)) throw new Error(`cannot load kubeconfig ${file}: not a mapping`);
  return doc;
}

/**
 * A kubeconfig is YAML, of which JSON is a subset. In a pod the agent reads none (in-cluster), and
 * a JSON one is read by JSON.parse: only YAML text loads the yaml package (about 1 MB of RSS). A
 * dynamic import() of a literal name, so the bundle (npm run bundle) carries yaml and still
 * evaluates it only here.
 */
async function parseKubeconfigText(text: string): Promise<unknown> {
  if (text.trimStart().startsWith('{')) {
    try {
      return JSON.parse(text) as unknown;
    } catch {
      // YAML flow style, or not valid at all: the YAML parser decides and explains.
    }
  }
  const { parse } = await import('yaml');
  return parse(text) as unknown;
}

function collect(into: Map<string, Named>, list: unknown, field: string, dir: string): void {
  if (!Array.isArray(list)) return;
  for (const entry of list) {
    if (!isRecord(entry) || typeof entry.name !== 'string' || into.has(entry.name)) continue;
    into.set(entry.name, { value: isRecord(entry[field]) ? entry[field] : {}, dir });
  }
}

function resolveCurrent(config: MergedConfig, source: string): KubeConnection {
  const noCluster = (detail: string) =>
    new Error(`the Kubernetes configuration has no current cluster (check current-context): ${detail}`);
  const contextName = config.currentContext;
  if (contextName === undefined) throw noCluster(`current-context is not set in ${source}`);
  const context = config.contexts.get(contextName);
  if (!context) throw noCluster(`context "${contextName}" is not defined`);
  const clusterName = text(context.value.cluster);
  const cluster = config.clusters.get(clusterName);
  if (!cluster) throw noCluster(`cluster "${clusterName}" of context "${contextName}" is not defined`);
  const server = text(cluster.value.server).replace(/\/+$/, '');
  if (!/^https?:\/\/[^/]/.test(server)) throw noCluster(`cluster "${clusterName}" has no http(s) server (got "${server}")`);

  const connection: KubeConnection = {
    server,
    insecureSkipTlsVerify: cluster.value['insecure-skip-tls-verify'] === true,
    source,
  };
  const caData = text(cluster.value['certificate-authority-data']);
  const caFile = text(cluster.value['certificate-authority']);
  if (caData !== '') connection.ca = fromBase64(caData, `certificate-authority-data of cluster "${clusterName}"`);
  else if (caFile !== '') connection.ca = readPem(resolve(cluster.dir, caFile), `certificate-authority of cluster "${clusterName}"`);
  const serverName = text(cluster.value['tls-server-name']);
  if (serverName !== '') connection.tlsServerName = serverName;
  const reasons: string[] = [];
  if (text(cluster.value['proxy-url']) !== '') reasons.push('proxy-url');

  // A context without a user, or naming one that is not defined, talks to the server anonymously (as kubectl does).
  const user = config.users.get(text(context.value.user));
  if (user) {
    const { value, dir } = user;
    const userName = text(context.value.user);
    if (isRecord(value.exec)) reasons.push(`exec plugin ${text(value.exec.command) || '(no command)'}`);
    if (isRecord(value['auth-provider'])) reasons.push(`auth-provider ${text(value['auth-provider'].name) || '(unnamed)'}`);
    if (text(value.username) !== '' || text(value.password) !== '') reasons.push('basic auth');
    const token = text(value.token);
    if (token !== '') connection.token = token;
    // kubectl spells it tokenFile; client-node reads token-file.
    const tokenFile = text(value.tokenFile) || text(value['token-file']);
    if (tokenFile !== '') connection.tokenFile = resolve(dir, tokenFile);
    const cert = pemFrom(value, 'client-certificate', dir, userName);
    const key = pemFrom(value, 'client-key', dir, userName);
    if ((cert === undefined) !== (key === undefined)) {
      const [has, lacks] = cert === undefined ? ['key', 'certificate'] : ['certificate', 'key'];
      throw new Error(`kubeconfig user "${userName}" has a client ${has} without a client ${lacks}`);
    }
    if (cert !== undefined && key !== undefined) {
      connection.cert = cert;
      connection.key = key;
    }
  }
  if (reasons.length > 0) connection.needsClientNode = reasons.join(', ');
  return connection;
}

function pemFrom(user: Json, field: 'client-certificate' | 'client-key', dir: string, userName: string): string | undefined {
  const data = text(user[`${field}-data`]);
  if (data !== '') return fromBase64(data, `${field}-data of user "${userName}"`);
  const file = text(user[field]);
  if (file !== '') return readPem(resolve(dir, file), `${field} of user "${userName}"`);
  return undefined;
}

function readPem(file: string, what: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (error) {
    throw new Error(`cannot read ${what} (${file}): ${firstLine(error)}`);
  }
}

function fromBase64(data: string, what: string): string {
  const decoded = Buffer.from(data, 'base64').toString('utf8');
  if (!decoded.includes('-----BEGIN')) throw new Error(`${what} is not base64 of a PEM block`);
  return decoded;
}
