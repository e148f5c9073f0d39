export { createAccessResolver } from './resolver.js';
export type { Access, AccessResolver, AccessResolverOptions } from './resolver.js';
