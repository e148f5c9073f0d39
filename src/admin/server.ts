import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import { createCallerGuard, exposedServerOptions, guardServer } from '../guard/index.js';
import type { Logger } from '../log/index.js';
import { DEFAULT_CONNECTION_BUDGET, isLocalhost } from '../net/index.js';
import type { Clock, Scheduler } from '../time/index.js';
import { adminRoutes, type AdminRoutesOptions } from './routes.js';

export interface AdminServerOptions extends AdminRoutesOptions {
  logger: Logger;
  clock: Clock;
  scheduler: Scheduler;
  /** Connections from pods in all (net/open-files.ts sizes it under the open-file limit). */
  maxConnections?: number;
}

// Every pod can reach this port at the node IP. Prometheus keeps one connection and scrapes every
// 15-60 s, the kubelet opens one per probe every few seconds: these budgets leave them plenty and
// a pod scraping in a loop almost nothing. Loopback callers (kubectl port-forward and exec into
// the agent, hostNetwork tools) are the node's admin and are not limited.
const ADMIN_LIMITS = {
  perSecond: 5,
  burst: 20,
  maxConnectionsPerCaller: 8,
  maxInFlightPerCaller: 4,
};

/** The admin server (metrics, health, explain) on its own port, with its own limits, not listening. */
export async function buildAdminServer(options: AdminServerOptions): Promise<FastifyInstance> {
  const { logger, clock, scheduler, maxConnections, ...routes } = options;
  const admin = Fastify({
    loggerInstance: logger.child({ component: 'admin' }) as FastifyBaseLogger,
    logController: new LogController({ disableRequestLogging: true }),
    ...exposedServerOptions,
  });
  guardServer(admin, createCallerGuard({ ...ADMIN_LIMITS, maxConnections: maxConnections ?? DEFAULT_CONNECTION_BUDGET.admin, exempt: isLocalhost, clock, scheduler }), 'Too Many Requests');
  await admin.register(adminRoutes, routes);
  return admin;
}
