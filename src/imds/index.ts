export { buildImdsServer } from './server.js';
export type { ImdsServerDeps, ImdsServerOptions } from './server.js';
export type { MetadataUpstream } from './upstream.js';
export { imdsTime } from './document.js';
export { openTokenKeyStore, RELOAD_EVERY_MS, RETIRED_KEY_GRACE_MS } from './token-keys.js';
export { MAX_TOKEN_TTL_SECONDS } from './token.js';
export type { TokenKeyRing } from './token-keys.js';
export { alsoListen, closeListener } from './also-listen.js';
