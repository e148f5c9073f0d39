export { buildAdminServer } from './server.js';
export { explainAccess } from './explain.js';
