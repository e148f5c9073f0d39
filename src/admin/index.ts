export { adminRoutes } from './routes.js';
export type { AdminRoutesOptions } from './routes.js';
export { explainAccess } from './explain.js';
export type { Explanation } from './explain.js';
