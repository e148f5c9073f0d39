export { createCallerGuard, peerAddress } from './caller-guard.js';
export type { Admission, CallerGuard, CallerGuardOptions } from './caller-guard.js';
