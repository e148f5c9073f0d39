export { createMetadataUpstream } from './client.js';
export type { MetadataUpstream, UpstreamAnswer } from './client.js';
export { UpstreamBusyError, UpstreamError } from './errors.js';
