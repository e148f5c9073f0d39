// @kubernetes/client-node stays out of this file's graph (about 90 MB of RSS): its parts are in
// api/client-node.ts, imported by `corridor explain` and, on demand, by api/open-transport.ts.
export { createPodDirectory } from './directory.js';
export type { PodDirectoryOptions, RunningPodDirectory } from './directory.js';
export { resolveKubeConnection, SERVICE_ACCOUNT_DIR } from './api/connection.js';
export type { KubeConnection, KubeConnectionSources } from './api/connection.js';
export { createHttpTransport, KubeApiError } from './api/http-transport.js';
export type { HttpTransportOptions } from './api/http-transport.js';
export { openKubeTransport } from './api/open-transport.js';
export type { OpenKubeTransportOptions } from './api/open-transport.js';
export { PodIndex, ownerOf, canOwnIp } from './pod-index.js';
export { parsePod, parseNamespace, parseServiceAccount } from './parse.js';
export type { BackoffOptions } from './backoff.js';
export { httpStatusOf } from './api/transport-types.js';
export type { KubeTransport, ListRequest, ListResult, WatchRequest, WatchHandlers, WatchHandle, WatchResource } from './api/transport-types.js';
export type { NamespaceInfo, PodDirectory, PodInfo, PodLookup, ServiceAccountInfo } from './types.js';
