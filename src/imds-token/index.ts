export { createTokenIssuer, parseTokenTtl } from './issuer.js';
export type { TokenIssuer } from './issuer.js';
export type { TokenKeyRing } from './key-ring.js';
export {
  openTokenKeyStore,
  MAX_CLOCK_SKEW_MS,
  MAX_KEY_AGE_MS,
  RELOAD_DEADLINE_MS,
  RELOAD_EVERY_MS,
  RETIRED_KEY_GRACE_MS,
} from './key-store.js';
export type { TokenKeyStore } from './key-store.js';
export type { KeyFs } from './key-file.js';
