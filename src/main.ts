import type { Server } from 'node:net';
import type { FastifyListenOptions } from 'fastify';
import { Registry } from 'prom-client';
import type { AwsCredentialIdentity } from '@smithy/types';
import { buildApp, type App } from './app.js';
import { sessionSettings, type AgentConfig } from './config/index.js';
import {
  createSessionCache,
  createStsAssumer,
  createWebIdentityAssumer,
  startPrefetch,
  type RoleAssumer,
  type SessionCache,
  type WebIdentitySts,
} from './credentials/index.js';
import { alsoListen, closeListener, drainListeners } from './imds/index.js';
import { openTokenKeyStore } from './imds-token/index.js';
import { createMetadataUpstream, type MetadataUpstream, type NodeImdsPosture } from './node-metadata/index.js';
import {
  createPodDirectory,
  createServiceAccountTokens,
  openKubeTransport,
  removeStartupTaint,
  type KubeTransport,
  type RunningPodDirectory,
} from './kube/index.js';
import { awaitSuccessor, createCloseStack, type Handover } from './lifecycle/index.js';
import { createLogger, type Logger } from './log/index.js';
import { createMetrics, type Metrics } from './metrics/index.js';
import { connectionBudget, listeningInodes, openFileLimit, reportSharedBridges, socketInodesOf, type SharedBridge } from './net/index.js';
import { policyWarnings } from './policy/index.js';
import { systemClock, systemScheduler, type Clock, type Scheduler } from './time/index.js';
import { version } from './version.js';

/**
 * The agent's edges: what it talks to and what it runs on. Each defaults to the real adapter;
 * tests, the demo and the benchmarks replace edges only, so every rule in between is production's.
 */
export interface AgentPorts {
  /** How lists and watches reach the API server. Default: the config's kubeconfig, else in-cluster. */
  kube?: KubeTransport;
  /** Who assumes roles. Default: the STS adapter, signing as `nodeCredentials`; in web-identity mode, pods' tokens exchanged at `webIdentitySts`. */
  assumer?: RoleAssumer;
  /** Web-identity mode: where tokens are exchanged for sessions. Default: the STS adapter (unsigned AssumeRoleWithWebIdentity). */
  webIdentitySts?: WebIdentitySts;
  /** The agent's own identity for the STS adapter. Default: the AWS SDK's default chain (the node role). */
  nodeCredentials?: AwsCredentialIdentity;
  clock?: Clock;
  scheduler?: Scheduler;
  /** Jitter source for refresh and backoff timing; tests pin it. */
  random?: () => number;
  /** The node's real metadata service, for allowlisted paths. Default: a client of --imds-upstream. */
  upstream?: MetadataUpstream;
  logger?: Logger;
  /** Metrics on a registry of the caller's. Default: a fresh registry with the process metrics. */
  metrics?: Metrics;
  /** The process's open-file limit, which sizes the connection pools. Default: read from /proc. */
  openFileLimit?: number | undefined;
  /** The bridges pods' interfaces hang off that let pods forge each other's addresses. Default: read from sysfs. */
  sharedBridges?: () => SharedBridge[];
  /** Where the STS adapter and the Kubernetes client read proxy and endpoint variables. Default: process.env. */
  env?: NodeJS.ProcessEnv;
}

export interface Agent {
  config: Readonly<AgentConfig>;
  app: App;
  directory: RunningPodDirectory;
  credentials: SessionCache;
  metrics: Metrics;
  logger: Logger;
  /**
   * Listens on the admin port at once, and on the metadata port (and the node's IPv6 address) once
   * the agent can answer (its first lists in), both with SO_REUSEPORT: in an upgrade the successor
   * binds beside this agent and takes calls only when it can serve them.
   */
  listen(): Promise<AgentUrls>;
  /**
   * On the way out, before close(): keeps serving until another agent listens on the metadata
   * port, at most --handover-timeout, so no pod's call finds the port closed.
   */
  handOver(): Promise<Handover | { outcome: 'not-serving' }>;
  /** Releases everything made, newest first: servers, watches, timers, pooled sockets. Safe to call twice. */
  close(): Promise<void>;
}

interface AgentUrls {
  /** Where the metadata server listens, e.g. http://127.0.0.1:8181. */
  imdsUrl: string;
  adminUrl: string;
}

export interface RunningAgent extends Agent, AgentUrls {}

/**
 * The composition root: builds the agent from config and its edges, and starts its background
 * work (watches, token-key reloads, refresh timers), without listening. Every resource registers
 * its own close as it is made; a failure half-way releases what was made and rethrows.
 */
export async function createAgent(config: Readonly<AgentConfig>, ports: AgentPorts = {}): Promise<Agent> {
  const env = ports.env ?? process.env;
  const logger = ports.logger ?? createLogger(config.logLevel);
  const clock = ports.clock ?? systemClock;
  const scheduler = ports.scheduler ?? systemScheduler;
  const metrics = ports.metrics ?? createMetrics(new Registry(), version());
  const resources = createCloseStack((error) => logger.error({ err: error }, 'releasing a resource failed'));
  try {
    for (const warning of policyWarnings(config)) logger.warn({ component: 'policy' }, warning);

    // The thin node:http client; @kubernetes/client-node (about 90 MB of RSS) only for kubeconfig
    // users that need it (exec plugins, auth-provider).
    const kube =
      ports.kube ??
      (await openKubeTransport(config.kubeconfig, {
        logger: logger.child({ component: 'kube' }),
        sources: { env },
        userAgent: `corridor/${version()}`,
        contentType: config.kubeApiContentType,
      }));
    resources.defer(() => kube.close?.());

    const random = ports.random ? { random: ports.random } : {};
    const directory = createPodDirectory({
      transport: kube,
      nodeName: config.nodeName,
      watchServiceAccounts: config.serviceAccountRoles,
      annotationKeys: Object.values<string>({ ...config.annotations }),
      startJitterMs: config.kubeStartJitterMs,
      clock,
      scheduler,
      ...random,
      metrics,
      logger,
    });
    resources.defer(() => directory.stop());

    let assumer = ports.assumer;
    if (assumer === undefined) {
      // In web-identity mode the adapter calls only AssumeRoleWithWebIdentity, which is unsigned: the agent needs no AWS credentials.
      const stsAdapter = () => {
        const adapter = createStsAssumer({
          region: config.stsRegion,
          endpoint: config.stsEndpoint,
          env,
          ...(ports.nodeCredentials ? { credentials: ports.nodeCredentials } : {}),
          requestTimeoutMs: STS_REQUEST_TIMEOUT_MS,
          clock,
        });
        resources.defer(() => adapter.close());
        return adapter;
      };
      assumer =
        config.credentialMode === 'web-identity'
          ? createWebIdentityAssumer({
              tokens: createServiceAccountTokens({
                transport: kube,
                pods: () => directory.pods(),
                audience: config.tokenAudience,
                expirationSeconds: Math.round(config.tokenExpirationMs / 1000),
                asNode: config.tokenRequestAsNode ? config.nodeName : undefined,
              }),
              sts: ports.webIdentitySts ?? stsAdapter(),
            })
          : stsAdapter();
    }
    const credentials = createSessionCache({ assumer, clock, scheduler, ...random, ...sessionSettings(config), metrics, logger });
    resources.defer(() => credentials.close());

    // Token signing keys on the node, so pods' IMDSv2 tokens survive this process (never fails).
    const tokenKeys = await openTokenKeyStore({ dir: config.tokenKeyDir, clock, scheduler, logger: logger.child({ component: 'token-keys' }) });
    resources.defer(() => tokenKeys.close());

    // Caps on connections from pods, under the open-file limit, so no pod can make the agent run out.
    const connections = connectionBudget('openFileLimit' in ports ? ports.openFileLimit : openFileLimit());
    // The node's own metadata service: the allowlisted paths, and its posture, asked once.
    const upstream = ports.upstream ?? createMetadataUpstream({ baseUrl: config.imdsUpstream, clock, timeoutMs: UPSTREAM_TIMEOUT_MS });
    void upstream.posture().then((posture) => reportNodePosture(posture, metrics, logger));
    const app = await buildApp({ directory, credentials, clock, scheduler, metrics, logger, tokenKeys, connections, upstream }, config);
    resources.defer(() => app.admin.close());
    resources.defer(() => app.imds.close());

    // Before the watch starts, so the first list of pods is prefetched too.
    startPrefetch({ pods: directory, roles: app.resolver, credentials });
    directory.start();
    tokenKeys.start();
    // Whether pods on this node can forge each other's addresses at L2 (docs/security.md: what the pod network must guarantee).
    const bridges = reportSharedBridges({
      gauge: metrics.sharedBridges,
      logger: logger.child({ component: 'net' }),
      scheduler,
      ...(ports.sharedBridges ? { read: ports.sharedBridges } : {}),
    });
    resources.defer(() => bridges.stop());

    /**
     * The node's start-up taint goes once the agent serves: listening, the first lists in, the
     * token keys open (the init container's rules were in place before the agent started).
     */
    const untaintOnceReady = (key: string) => {
      let removal: ReturnType<typeof removeStartupTaint> | undefined;
      let closed = false;
      resources.defer(() => {
        closed = true;
        removal?.stop();
      });
      void directory.whenReady().then(() => {
        if (!closed) removal = removeStartupTaint({ transport: kube, nodeName: config.nodeName, key, clock, scheduler, logger, ...random });
      });
    };

    let isClosed = false;
    const closed = new Promise<void>((resolve) => resources.defer(() => {
      isClosed = true;
      resolve();
    }));
    let serving: { port: number } | undefined;
    const listeners: Server[] = [];

    return {
      config,
      app,
      directory,
      credentials,
      metrics,
      logger,
      async listen() {
        const adminUrl = await app.admin.listen(shared({ host: config.adminHost, port: config.adminPort }));
        await Promise.race([directory.whenReady(), closed]);
        if (isClosed) {
          // Closed while the admin port was still opening: it closed nothing then.
          app.admin.server.close();
          throw new Error('the agent was closed before it could serve');
        }
        const imdsUrl = await app.imds.listen(shared({ host: config.hostIp, port: config.port }));
        let imds6Url: string | undefined;
        // The node's IPv6 address too, for pods' [fd00:ec2::254] traffic DNATed there.
        if (config.hostIpv6 !== undefined) {
          const imds6 = await alsoListen(app.imds.server, config.hostIpv6, config.port);
          resources.defer(() => closeListener(imds6));
          listeners.push(imds6);
          imds6Url = `http://[${config.hostIpv6}]:${new URL(imdsUrl).port}`;
        }
        listeners.push(app.imds.server);
        serving = { port: Number(new URL(imdsUrl).port) };
        if (config.startupTaint !== undefined) untaintOnceReady(config.startupTaint);
        // uptimeMs: from the process's start (Node's own boot included): a new node's time to serve.
        const uptimeMs = Math.round(process.uptime() * 1000);
        const fields = {
          imds: imdsUrl,
          imds6: imds6Url,
          admin: adminUrl,
          node: config.nodeName,
          version: version(),
          credentialMode: config.credentialMode,
          maxConnections: connections,
          uptimeMs,
        };
        logger.info(fields, 'corridor agent listening');
        return { imdsUrl, adminUrl };
      },
      async handOver() {
        if (serving === undefined) return { outcome: 'not-serving' as const };
        const { port } = serving;
        const own = socketInodesOf('self');
        const addresses = config.hostIpv6 === undefined ? [config.hostIp] : [config.hostIp, config.hostIpv6];
        const successorListens = () => addresses.every((address) => [...listeningInodes(address, port)].some((inode) => !own.has(inode)));
        const handover = await awaitSuccessor({ successorListens, timeoutMs: config.handoverTimeoutMs, clock, scheduler });
        if (handover.outcome === 'successor') {
          logger.info(handover, 'another agent listens on the metadata port: handing over to it');
          const drained = await drainListeners(listeners, scheduler);
          const how = drained ? 'every connection finished' : 'connections still open are closed now';
          logger.info({ drained }, `the metadata port handed over; ${how}`);
        } else if (config.handoverTimeoutMs > 0) {
          logger.warn(handover, 'no other agent listens on the metadata port: stopping anyway');
        }
        return handover;
      },
      close: () => resources.close(),
    };
  } catch (error) {
    await resources.close();
    throw error;
  }
}

/** Builds the agent and listens; a port in use releases everything, so the process ends (and the pod restarts) instead of hanging. */
export async function startAgent(config: Readonly<AgentConfig>, ports: AgentPorts = {}): Promise<RunningAgent> {
  const agent = await createAgent(config, ports);
  try {
    return Object.assign(agent, await agent.listen());
  } catch (error) {
    await agent.close();
    throw error;
  }
}

/** SO_REUSEPORT (Node.js 22.12 and later; ignored before): only processes of the same uid can join. */
function shared(address: { host: string; port: number }): FastifyListenOptions {
  const options: FastifyListenOptions & { reusePort: boolean } = { ...address, reusePort: true };
  return options;
}

/** One passthrough request to the node's metadata service, wait included. */
const UPSTREAM_TIMEOUT_MS = 1000;

/**
 * The node's metadata posture, in the log and in corridor_node_imds_posture (which `corridor audit`
 * reads): with IMDSv1 allowed, a pod reaches the node's role whenever corridor's rules are missing.
 */
function reportNodePosture(posture: NodeImdsPosture, metrics: Metrics, logger: Logger): void {
  metrics.nodeImdsPosture.set({ posture }, 1);
  const log = logger.child({ component: 'node-metadata' });
  if (posture === 'imdsv1-allowed') {
    log.warn(
      { posture },
      'the node\'s metadata service answers without a token (IMDSv1): until corridor\'s rules are in place (a new node, a reboot) ' +
        'a pod can reach the node\'s role; require IMDSv2 with a PUT response hop limit of 1',
    );
  } else if (posture === 'imdsv2-required') {
    log.info({ posture }, 'the node\'s metadata service requires IMDSv2');
  } else {
    log.info({ posture }, 'the node\'s metadata service did not answer a GET without a token: posture unknown');
  }
}

/** Upper bound on connecting to STS and on one AssumeRole call: a pod waiting on a miss gets its answer quickly. */
const STS_REQUEST_TIMEOUT_MS = 5000;
