export { imdsRoutes, callerIp } from './routes.js';
export type { ImdsRoutesOptions } from './routes.js';
export { createTokenIssuer, parseTokenTtl } from './token.js';
export type { TokenIssuer } from './token.js';
export { imdsTime, credentialDocuments, iamInfoDocument } from './document.js';
export { createMetadataUpstream } from './upstream.js';
export type { MetadataUpstream, UpstreamAnswer } from './upstream.js';
export { createRateLimiter } from './rate-limit.js';
export type { RateLimiter } from './rate-limit.js';
