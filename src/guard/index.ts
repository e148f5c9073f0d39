export { createCallerGuard } from './caller-guard.js';
export type { CallerGuard, CallerGuardOptions } from './caller-guard.js';
export { recordRefusals } from './refusals.js';
export { appLogThrottle, exposedServerOptions, guardServer } from './fastify.js';
