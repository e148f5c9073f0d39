export { AssumeRoleError } from './types.js';
export type { AssumeRequest, RoleAssumer, Session, SessionKey, SessionScope } from './types.js';
export { CredentialsUnavailableError } from './source.js';
export type { CredentialSource } from './source.js';
export { createSessionCache } from './session-cache.js';
export type { SessionCache, SessionCacheOptions } from './session-cache.js';
export { createStsAssumer } from './sts-assumer.js';
export type { StsAssumer } from './sts-assumer.js';
export { startPrefetch } from './prefetch.js';
