import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import http from 'node:http';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { KubeConfig } from '@kubernetes/client-node';
import { freePort } from './free-port.js';
import { buildPeer, hasTool, type TestScope } from './peers.js';
import { stopChild } from './stop-child.js';

const run = promisify(execFile);

/** The issuer and audience of ServiceAccount tokens (the agent's token is one of them). */
export const SERVICE_ACCOUNT_ISSUER = 'https://kubernetes.default.svc.cluster.local';
/** A cold kube-apiserver on a busy two-core machine takes 10-30 s to be ready. */
const START_TIMEOUT_MS = 120_000;

export interface ControlPlaneBinaries {
  kubeApiserver: string;
  etcd: string;
}

/**
 * kube-apiserver and etcd, built from their Go modules (or found in the cache), for tests that run
 * a control plane; or why they cannot be had here, for the test to skip with.
 */
export function controlPlaneBinaries(t: Pick<TestScope, 'setTimeout'>): { ok: true; binaries: ControlPlaneBinaries } | { ok: false; reason: string } {
  if (!hasTool('openssl', ['version'])) return { ok: false, reason: 'openssl is not installed (it makes the test certificates)' };
  const kubeApiserver = buildPeer(t, 'build-kube-apiserver.sh');
  if (!kubeApiserver.ok) return kubeApiserver;
  const etcd = buildPeer(t, 'build-etcd.sh');
  if (!etcd.ok) return etcd;
  return { ok: true, binaries: { kubeApiserver: kubeApiserver.path, etcd: etcd.path } };
}

/**
 * The binaries the peers' builds left in the cache (CORRIDOR_CACHE, default ~/.cache/corridor), for
 * slow tests that use them but never build them; or why they cannot run.
 */
export function cachedControlPlaneBinaries(): { ok: true; binaries: ControlPlaneBinaries } | { ok: false; reason: string } {
  const bin = join(process.env.CORRIDOR_CACHE ?? join(homedir(), '.cache', 'corridor'), 'bin');
  const binaries = { kubeApiserver: join(bin, 'kube-apiserver'), etcd: join(bin, 'etcd') };
  if (!hasTool('openssl', ['version'])) return { ok: false, reason: 'openssl is not installed (it makes the test certificates)' };
  const missing = [binaries.kubeApiserver, binaries.etcd].find((path) => !existsSync(path));
  return missing === undefined ? { ok: true, binaries } : { ok: false, reason: `${missing} is not built (npm run test:peers builds it)` };
}

export interface ControlPlane {
  /** `https://127.0.0.1:<port>` of the running kube-apiserver. */
  readonly server: string;
  /** gitVersion from the server's /version, e.g. v1.37.2. */
  readonly version: string;
  readonly caPem: string;
  /** The admin's token (group system:masters), for requests made by hand (the issuer's discovery document). */
  readonly adminToken: string;
  /** A kubeconfig for `token` (a user of the token file, or a ServiceAccount's) at `server`. */
  kubeConfigText(token: string, server?: string): string;
  /** A client-node KubeConfig for the token file's admin (group system:masters). */
  admin(server?: string): KubeConfig;
  /** The process ids of kube-apiserver (undefined while it is stopped) and etcd, for their CPU time in /proc. */
  processIds(): { kubeApiserver: number | undefined; etcd: number | undefined };
  /** Stops kube-apiserver (etcd keeps running). */
  stopApiServer(): Promise<void>;
  /** Starts kube-apiserver again on `port` (default: the port it had) and waits until it is ready. */
  startApiServer(port?: number): Promise<void>;
  freePort(): Promise<number>;
}

/**
 * etcd and kube-apiserver on loopback with free ports, for one test: a CA and a serving
 * certificate for 127.0.0.1 made with openssl, a ServiceAccount signing key pair, a token file
 * with one admin, RBAC authorization. No controller-manager or scheduler runs: the test creates
 * what a cluster would (pods carry spec.nodeName, IPs come through the status subresource), and
 * the ServiceAccount admission plugin, which needs the token controller's default accounts, is
 * off. Everything is stopped and removed in t.teardown.
 */
export interface ControlPlaneOptions {
  /** The node authorizer and NodeRestriction, as on kubeadm and EKS clusters (off: RBAC alone). */
  nodeAuthorization?: boolean;
  /**
   * API Priority and Fairness as production runs it (off by default: most tests would only wait
   * for its configuration to settle), with the server's seats: --max-requests-inflight plus
   * --max-mutating-requests-inflight (defaults 400 and 200).
   */
  priorityAndFairness?: { maxRequestsInflight?: number; maxMutatingRequestsInflight?: number };
}

export async function startControlPlane(t: Pick<TestScope, 'teardown'>, binaries: ControlPlaneBinaries, options: ControlPlaneOptions = {}): Promise<ControlPlane> {
  const dir = mkdtempSync(join(tmpdir(), 'corridor-kube-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  await makeCertificates(dir);
  const adminToken = randomBytes(24).toString('hex');
  writeFileSync(join(dir, 'tokens.csv'), `${adminToken},corridor-test-admin,corridor-test-admin,"system:masters"\n`, { mode: 0o600 });
  const caPem = readFileSync(join(dir, 'ca.crt'), 'utf8');

  const etcdPort = await freePort();
  const etcdPeerPort = await freePort();
  const etcd = startDaemon('etcd', binaries.etcd, [
    '--name', 'corridor-test',
    '--data-dir', join(dir, 'etcd'),
    '--listen-client-urls', `http://127.0.0.1:${etcdPort}`,
    '--advertise-client-urls', `http://127.0.0.1:${etcdPort}`,
    '--listen-peer-urls', `http://127.0.0.1:${etcdPeerPort}`,
    '--initial-advertise-peer-urls', `http://127.0.0.1:${etcdPeerPort}`,
    '--initial-cluster', `corridor-test=http://127.0.0.1:${etcdPeerPort}`,
    // A test's data is thrown away: skipping fsync saves seconds on a busy disk.
    '--unsafe-no-fsync',
    '--log-level', 'warn',
  ]);
  t.teardown(() => etcd.stop());
  await waitUntil(() => getStatus(`http://127.0.0.1:${etcdPort}/health`), 'etcd /health', etcd);

  let apiPort = await freePort();
  let apiServer: Daemon | undefined;
  let version = '';
  const apiServerArgs = (port: number) => [
    `--etcd-servers=http://127.0.0.1:${etcdPort}`,
    '--bind-address=127.0.0.1',
    '--advertise-address=127.0.0.1',
    `--secure-port=${port}`,
    `--tls-cert-file=${join(dir, 'server.crt')}`,
    `--tls-private-key-file=${join(dir, 'server.key')}`,
    `--cert-dir=${join(dir, 'certs')}`,
    `--token-auth-file=${join(dir, 'tokens.csv')}`,
    // With nodeAuthorization: the node authorizer and NodeRestriction, as on kubeadm and EKS clusters.
    options.nodeAuthorization ? '--authorization-mode=Node,RBAC' : '--authorization-mode=RBAC',
    ...(options.nodeAuthorization ? ['--enable-admission-plugins=NodeRestriction'] : []),
    '--anonymous-auth=false',
    `--service-account-issuer=${SERVICE_ACCOUNT_ISSUER}`,
    `--service-account-key-file=${join(dir, 'sa.pub')}`,
    `--service-account-signing-key-file=${join(dir, 'sa.key')}`,
    '--service-cluster-ip-range=10.96.0.0/24',
    '--disable-admission-plugins=ServiceAccount',
    ...(options.priorityAndFairness === undefined
      ? ['--enable-priority-and-fairness=false']
      : [
          '--enable-priority-and-fairness=true',
          `--max-requests-inflight=${options.priorityAndFairness.maxRequestsInflight ?? 400}`,
          `--max-mutating-requests-inflight=${options.priorityAndFairness.maxMutatingRequestsInflight ?? 200}`,
        ]),
    '--endpoint-reconciler-type=none',
    '--profiling=false',
    '--v=1',
  ];
  const ready = (port: number) => () => getStatus(`https://127.0.0.1:${port}/readyz`, { ca: caPem, token: adminToken });

  const controlPlane: ControlPlane = {
    get server() {
      return `https://127.0.0.1:${apiPort}`;
    },
    get version() {
      return version;
    },
    caPem,
    adminToken,
    kubeConfigText(token, server = controlPlane.server) {
      return JSON.stringify({
        apiVersion: 'v1',
        kind: 'Config',
        clusters: [{ name: 'corridor-test', cluster: { server, 'certificate-authority-data': Buffer.from(caPem).toString('base64') } }],
        users: [{ name: 'user', user: { token } }],
        contexts: [{ name: 'corridor-test', context: { cluster: 'corridor-test', user: 'user' } }],
        'current-context': 'corridor-test',
      });
    },
    admin(server) {
      const kubeConfig = new KubeConfig();
      kubeConfig.loadFromString(controlPlane.kubeConfigText(adminToken, server));
      return kubeConfig;
    },
    processIds: () => ({ kubeApiserver: apiServer?.child.pid, etcd: etcd.child.pid }),
    async stopApiServer() {
      await apiServer?.stop();
      apiServer = undefined;
    },
    async startApiServer(port = apiPort) {
      if (apiServer !== undefined) throw new Error('kube-apiserver is already running');
      apiPort = port;
      apiServer = startDaemon('kube-apiserver', binaries.kubeApiserver, apiServerArgs(port));
      await waitUntil(ready(port), 'kube-apiserver /readyz', apiServer);
    },
    freePort,
  };
  t.teardown(() => controlPlane.stopApiServer());
  await controlPlane.startApiServer();
  version = (JSON.parse(await getBody(`${controlPlane.server}/version`, { ca: caPem, token: adminToken })) as { gitVersion: string }).gitVersion;
  return controlPlane;
}

async function makeCertificates(dir: string): Promise<void> {
  const openssl = (...args: string[]) => run('openssl', args, { cwd: dir });
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  await openssl('req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '2', '-subj', '/CN=corridor-test-ca');
  await openssl('req', ...ec, '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=kube-apiserver');
  writeFileSync(join(dir, 'server.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\nkeyUsage=critical,digitalSignature\n');
  await openssl('x509', '-req', '-in', 'server.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'server.crt', '-days', '2', '-extfile', 'server.ext');
  // The ServiceAccount token signing pair (ES256).
  await openssl('ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', 'sa.key');
  await openssl('ec', '-in', 'sa.key', '-pubout', '-out', 'sa.pub');
}

interface Daemon {
  child: ChildProcess;
  /** The last part of its output, for failure messages. */
  output(): string;
  stop(): Promise<void>;
}

/** setpriv (util-linux) can make the kernel kill a daemon whose test process died without its teardown. */
const SETPRIV = ['/usr/bin/setpriv', '/bin/setpriv'].find((path) => existsSync(path));

function startDaemon(name: string, file: string, args: string[]): Daemon {
  const child = SETPRIV
    ? spawn(SETPRIV, ['--pdeathsig', 'KILL', '--', file, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
    : spawn(file, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const keep = (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-16_000);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  child.on('error', (error) => keep(Buffer.from(`${name}: ${error.message}\n`)));
  return {
    child,
    output: () => `--- ${name} output (last part) ---\n${output}`,
    async stop() {
      await stopChild(child, 10_000);
    },
  };
}

/**
 * Waits for a process that announces readiness only through an HTTP endpoint: asks `probe` every
 * 250 ms until it answers 200, fails at once if the process exits, and gives up after a bound.
 */
async function waitUntil(probe: () => Promise<number>, what: string, daemon: Daemon): Promise<void> {
  const deadline = Date.now() + START_TIMEOUT_MS;
  let last = 'no answer';
  while (Date.now() < deadline) {
    if (daemon.child.exitCode !== null || daemon.child.signalCode !== null) {
      throw new Error(`${what}: the process exited (${daemon.child.exitCode ?? daemon.child.signalCode})\n${daemon.output()}`);
    }
    try {
      const status = await probe();
      if (status === 200) return;
      last = `HTTP ${status}`;
    } catch (error) {
      last = (error as Error).message;
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  throw new Error(`${what} not ready after ${START_TIMEOUT_MS} ms (${last})\n${daemon.output()}`);
}

interface Auth {
  ca: string;
  token: string;
}

function request(url: string, auth?: Auth): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const target = new URL(url);
    const options = { agent: false as const, timeout: 5000, headers: auth ? { authorization: `Bearer ${auth.token}` } : {} };
    const onResponse = (response: http.IncomingMessage) => {
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (body += chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body }));
    };
    const req = target.protocol === 'https:' ? https.get(target, { ...options, ca: auth?.ca }, onResponse) : http.get(target, options, onResponse);
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', reject);
  });
}

async function getStatus(url: string, auth?: Auth): Promise<number> {
  return (await request(url, auth)).status;
}

export async function getBody(url: string, auth?: Auth): Promise<string> {
  const { status, body } = await request(url, auth);
  if (status !== 200) throw new Error(`GET ${url}: HTTP ${status}: ${body.slice(0, 300)}`);
  return body;
}
