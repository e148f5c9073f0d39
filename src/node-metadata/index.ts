export { createMetadataUpstream } from './client.js';
export type { MetadataUpstream, MetadataUpstreamOptions, UpstreamAnswer } from './client.js';
export { UpstreamBusyError, UpstreamError, UpstreamTimeoutError } from './errors.js';
