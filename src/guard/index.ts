export { createCallerGuard } from './caller-guard.js';
export type { Admission, CallerGuard, CallerGuardOptions } from './caller-guard.js';
export { exposedServerOptions, guardServer } from './fastify.js';
