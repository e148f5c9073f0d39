export { createCallerGuard } from './caller-guard.js';
export type { Admission, CallerGuard, CallerGuardOptions, RefusalReason } from './caller-guard.js';
export { recordRefusals } from './refusals.js';
export type { GuardedServer } from './refusals.js';
export { appLogThrottle, exposedServerOptions, guardServer } from './fastify.js';
