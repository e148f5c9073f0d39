export { buildAdminServer } from './server.js';
export { explainAccess, serviceAccountSubject } from './explain.js';
