import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import { appLogThrottle, createCallerGuard, exposedServerOptions, guardServer, recordRefusals } from '../guard/index.js';
import type { Logger } from '../log/index.js';
import { DEFAULT_CONNECTION_BUDGET, isLocalhost } from '../net/index.js';
import type { Clock, Scheduler } from '../time/index.js';
import { adminRoutes, type AdminRoutesOptions } from './routes.js';

export interface AdminServerOptions extends AdminRoutesOptions {
  logger: Logger;
  clock: Clock;
  scheduler: Scheduler;
  /** Connections from this node's pods in all (net/open-files.ts sizes it under the open-file limit). */
  maxConnections?: number;
  /** Connections from callers that are no pod of this node (Prometheus, other nodes' pods), in all. */
  maxStrangerConnections?: number;
  /** The node's own addresses (its IPv4 and IPv6): the kubelet probes from there. */
  nodeAddresses?: readonly string[];
}

// Every pod of the cluster can reach this port at the node IP. Prometheus keeps one connection and
// scrapes every 15-60 s: these budgets leave it plenty and a pod scraping in a loop almost nothing.
// Three pools, so no caller competes with another kind: the node itself (loopback: kubectl
// port-forward and exec, hostNetwork tools; its own addresses: the kubelet's probes) is not rate
// limited and not counted against the others; this node's pods share one budget; everyone else
// (Prometheus, other nodes' pods) another.
const ADMIN_LIMITS = {
  perSecond: 5,
  burst: 20,
  maxConnectionsPerCaller: 8,
  maxInFlightPerCaller: 4,
};

/** The admin server (metrics, health, explain) on its own port, with its own limits, not listening. */
export async function buildAdminServer(options: AdminServerOptions): Promise<FastifyInstance> {
  const { logger, clock, scheduler, maxConnections, maxStrangerConnections, nodeAddresses = [], ...routes } = options;
  // fastify's logger type, not pino's: the instance is then the FastifyInstance the guard and routes take.
  const loggerInstance: FastifyBaseLogger = logger.child({ component: 'admin' });
  const admin = Fastify({
    loggerInstance,
    logController: new LogController({ disableRequestLogging: true }),
    ...exposedServerOptions,
  });
  const node = new Set(nodeAddresses);
  const refusals = appLogThrottle(admin, logger.child({ component: 'guard' }), scheduler);
  const guard = createCallerGuard({
    ...ADMIN_LIMITS,
    maxConnections: maxConnections ?? DEFAULT_CONNECTION_BUDGET.admin,
    exempt: (ip) => isLocalhost(ip) || node.has(ip),
    strangers: {
      is: (ip) => routes.directory.byIp(ip).kind === 'unknown',
      maxConnectionsPerCaller: ADMIN_LIMITS.maxConnectionsPerCaller,
      maxConnections: maxStrangerConnections ?? DEFAULT_CONNECTION_BUDGET.adminStrangers,
    },
    onRefused: recordRefusals('admin', routes.metrics, refusals),
    clock,
    scheduler,
  });
  guardServer(admin, guard, 'Too Many Requests');
  await admin.register(adminRoutes, routes);
  return admin;
}
