export { buildImdsServer } from './server.js';
export type { ImdsServerDeps } from './server.js';
export { imdsTime } from './document.js';
export { alsoListen, closeListener } from './also-listen.js';
export { drainListeners } from './drain.js';
