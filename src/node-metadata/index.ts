export { createMetadataUpstream } from './client.js';
export type { MetadataUpstream, NodeImdsPosture, PassthroughUpstream, UpstreamAnswer } from './client.js';
export { UpstreamBusyError, UpstreamError } from './errors.js';
