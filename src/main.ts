import { Registry } from 'prom-client';
import { buildApp, type App } from './app.js';
import { sessionSettings, type AgentConfig } from './config/index.js';
import { createSessionCache, createStsAssumer, startPrefetch, type RoleAssumer, type StsAssumer } from './credentials/index.js';
import { alsoListen, closeListener } from './imds/index.js';
import { openTokenKeyStore } from './imds-token/index.js';
import { createPodDirectory, openKubeTransport, type RunningPodDirectory } from './kube/index.js';
import { createLogger, type Logger } from './log/index.js';
import { createMetrics } from './metrics/index.js';
import { connectionBudget, openFileLimit, reportSharedBridges } from './net/index.js';
import { policyWarnings } from './policy/index.js';
import { systemClock, systemScheduler } from './time/index.js';
import { version } from './version.js';

export interface RunningAgent {
  app: App;
  directory: RunningPodDirectory;
  /** Where the metadata and admin servers listen, e.g. http://127.0.0.1:8181. */
  imdsUrl: string;
  adminUrl: string;
  logger: Logger;
  /** Stops accepting, finishes in-flight requests, stops watches and refresh timers. */
  stop(): Promise<void>;
}

export interface AgentOverrides {
  /** Replaces the STS adapter (demo, tests). */
  assumer?: RoleAssumer;
  logger?: Logger;
  env?: NodeJS.ProcessEnv;
}

/** The composition root: builds the real dependencies from config, wires them and listens. */
export async function startAgent(config: Readonly<AgentConfig>, overrides: AgentOverrides = {}): Promise<RunningAgent> {
  const env = overrides.env ?? process.env;
  const logger = overrides.logger ?? createLogger(config.logLevel);
  const metrics = createMetrics(new Registry(), version());
  for (const warning of policyWarnings(config)) logger.warn({ component: 'policy' }, warning);
  const clock = systemClock;
  const scheduler = systemScheduler;

  // The thin node:http client; @kubernetes/client-node (about 90 MB of RSS) only for kubeconfig
  // users that need it (exec plugins, auth-provider).
  const transport = await openKubeTransport(config.kubeconfig, {
    logger: logger.child({ component: 'kube' }),
    sources: { env },
    userAgent: `corridor/${version()}`,
  });
  const directory = createPodDirectory({
    transport,
    nodeName: config.nodeName,
    watchServiceAccounts: config.serviceAccountRoles,
    clock,
    scheduler,
    metrics,
    logger,
  });
  // The agent's own identity comes from the default AWS SDK chain (the node role).
  const stsAssumer = overrides.assumer
    ? undefined
    : createStsAssumer({ region: config.stsRegion, endpoint: config.stsEndpoint, env, requestTimeoutMs: 5000 });
  const assumer: RoleAssumer = overrides.assumer ?? (stsAssumer as StsAssumer);
  const credentials = createSessionCache({
    assumer,
    clock,
    scheduler,
    ...sessionSettings(config),
    metrics,
    logger,
  });
  // Token signing keys on the node, so pods' IMDSv2 tokens survive this process (never fails).
  const tokenKeys = await openTokenKeyStore({ dir: config.tokenKeyDir, clock, scheduler, logger: logger.child({ component: 'token-keys' }) });
  // Caps on connections from pods, under the open-file limit, so no pod can make the agent run out.
  const connections = connectionBudget(openFileLimit());
  const app = await buildApp({ directory, credentials, beforeScrape: () => credentials.updateGauges(), clock, scheduler, metrics, logger, tokenKeys, connections }, config);
  // Before the watch starts, so the first list of pods is prefetched too.
  startPrefetch({ pods: directory, roles: app.resolver, credentials });
  // Everything that keeps the process alive; released on stop, and when start-up fails half-way,
  // so a port in use ends the process (and the pod restarts) instead of leaving it hanging.
  let imds6: Awaited<ReturnType<typeof alsoListen>> | undefined;
  // Whether pods on this node can forge each other's addresses at L2 (README: what the pod network must guarantee).
  const bridges = reportSharedBridges({ gauge: metrics.sharedBridges, logger: logger.child({ component: 'net' }), scheduler });
  const release = async () => {
    bridges.stop();
    if (imds6) await closeListener(imds6);
    await app.imds.close();
    directory.stop();
    transport.close?.();
    credentials.close();
    tokenKeys.close();
    stsAssumer?.close();
    await app.admin.close();
  };
  directory.start();
  tokenKeys.start();
  let imdsUrl: string;
  let adminUrl: string;
  try {
    imdsUrl = await app.imds.listen({ host: config.hostIp, port: config.port });
    // The node's IPv6 address too, for pods' [fd00:ec2::254] traffic DNATed there.
    if (config.hostIpv6 !== undefined) imds6 = await alsoListen(app.imds.server, config.hostIpv6, config.port);
    adminUrl = await app.admin.listen({ host: config.adminHost, port: config.adminPort });
  } catch (error) {
    await release();
    throw error;
  }
  const imds6Url = config.hostIpv6 === undefined ? undefined : `http://[${config.hostIpv6}]:${new URL(imdsUrl).port}`;
  logger.info({ imds: imdsUrl, imds6: imds6Url, admin: adminUrl, node: config.nodeName, version: version(), maxConnections: connections }, 'corridor agent listening');

  return {
    app,
    directory,
    imdsUrl,
    adminUrl,
    logger,
    async stop() {
      await release();
      logger.info('corridor agent stopped');
    },
  };
}
