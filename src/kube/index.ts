// @kubernetes/client-node stays out of this file's graph (about 90 MB of RSS): its parts are in
// api/client-node.ts, imported by `corridor explain` and, on demand, by api/open-transport.ts.
export { createPodDirectory } from './directory.js';
export { removeStartupTaint } from './startup-taint.js';
export { createServiceAccountTokens, serviceAccountSubject } from './service-account-tokens.js';
export type { RunningPodDirectory } from './directory.js';
export type { KubeConnection } from './api/connection.js';
export { openKubeTransport } from './api/open-transport.js';
export type { KubeTransport } from './api/transport-types.js';
export { isLivePod, PodIndex } from './pod-index.js';
export { parsePod, parseNamespace, parseServiceAccount } from './parse.js';
export type { NamespaceInfo, PodDirectory, PodInfo, PodLookup, ServiceAccountInfo } from './types.js';
