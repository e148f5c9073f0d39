export { buildAdminServer } from './server.js';
export { explainAccess } from './explain.js';
export type { Explanation } from './explain.js';
