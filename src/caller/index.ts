/** Who a metadata caller is (the pod behind a TCP peer address) and what it may have (decision, session key). */
export { createCallerResolver } from './resolver.js';
export type { CallerAccess, CallerResolver } from './resolver.js';
