import type { FastifyInstance } from 'fastify';
import { buildAdminServer } from './admin/index.js';
import { createCallerResolver, type CallerResolver } from './caller/index.js';
import type { AgentConfig } from './config/index.js';
import { buildImdsServer, type ImdsServerDeps } from './imds/index.js';
import type { PodDirectory } from './kube/index.js';
import { createLogThrottle } from './log/index.js';
import type { ConnectionBudget } from './net/index.js';

/** What the servers need (imds/server.ts's deps less the resolver, built here, and its caps, from `connections`) and the pod directory. */
export type AppDeps = Omit<ImdsServerDeps, 'resolver' | 'maxConnections' | 'maxStrangerConnections'> & {
  directory: PodDirectory;
  /** Connections from pods each server may hold in all; the defaults when absent. */
  connections?: ConnectionBudget;
};

export type AppConfig = Pick<
  AgentConfig,
  | 'hostIp'
  | 'hostIpv6'
  | 'annotations'
  | 'baseRoleArn'
  | 'serviceAccountRoles'
  | 'sessionScope'
  | 'credentialMode'
  | 'podLookupTimeoutMs'
  | 'requireImdsv2'
  | 'passthroughPaths'
  | 'imdsUpstream'
  | 'rateLimitPerSecond'
  | 'rateLimitBurst'
>;

export interface App {
  imds: FastifyInstance;
  admin: FastifyInstance;
  resolver: CallerResolver;
}

/** Builds the metadata and admin servers with their dependencies wired, without listening. */
export async function buildApp(deps: AppDeps, config: AppConfig): Promise<App> {
  const { directory, credentials, metrics, logger } = deps;
  const strangerAudit = createLogThrottle({ logger: logger.child({ component: 'audit' }), level: 'warn', scheduler: deps.scheduler });
  const resolver = createCallerResolver({
    directory,
    policy: { annotations: config.annotations, baseRoleArn: config.baseRoleArn, serviceAccountRoles: config.serviceAccountRoles },
    podLookupTimeoutMs: config.podLookupTimeoutMs,
    sessionScope: config.sessionScope,
    credentialMode: config.credentialMode,
    metrics,
    logger,
    strangerAudit,
  });

  const imds = await buildImdsServer(
    { ...deps, resolver, ...(deps.connections ? { maxConnections: deps.connections.imds, maxStrangerConnections: deps.connections.imdsStrangers } : {}) },
    config,
  );
  const admin = await buildAdminServer({
    directory,
    resolver,
    credentials,
    credentialMode: config.credentialMode,
    metrics,
    logger,
    clock: deps.clock,
    scheduler: deps.scheduler,
    nodeAddresses: config.hostIpv6 === undefined ? [config.hostIp] : [config.hostIp, config.hostIpv6],
    ...(deps.connections ? { maxConnections: deps.connections.admin, maxStrangerConnections: deps.connections.adminStrangers } : {}),
  });
  imds.addHook('onClose', (_instance, done) => {
    strangerAudit.close();
    done();
  });
  return { imds, admin, resolver };
}
