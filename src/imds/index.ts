export { buildImdsServer } from './server.js';
export type { ImdsServerDeps, ImdsServerOptions } from './server.js';
export type { MetadataUpstream } from './upstream.js';
export { imdsTime } from './document.js';
