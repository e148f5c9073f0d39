import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { Logger } from '../log/index.js';
import { adminRoutes, type AdminRoutesOptions } from './routes.js';

/** The admin server (metrics, health, explain) on its own port, not listening. */
export async function buildAdminServer(options: AdminRoutesOptions & { logger: Logger }): Promise<FastifyInstance> {
  const { logger, ...routes } = options;
  const admin = Fastify({ loggerInstance: logger.child({ component: 'admin' }) as FastifyBaseLogger, logController: new LogController({ disableRequestLogging: true }) });
  await admin.register(adminRoutes, routes);
  return admin;
}
