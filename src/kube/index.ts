export { createPodDirectory } from './directory.js';
export type { PodDirectoryOptions, RunningPodDirectory } from './directory.js';
export { loadKubeConfig } from './kubeconfig.js';
export type { KubeConfigSources } from './kubeconfig.js';
export { PodIndex, ownerOf, canOwnIp } from './pod-index.js';
export { parsePod, parseNamespace, parseServiceAccount } from './parse.js';
export type { BackoffOptions } from './backoff.js';
export type { KubeTransport, ListRequest, ListResult, WatchRequest, WatchHandlers, WatchHandle } from './transport.js';
export type { NamespaceInfo, PodDirectory, PodInfo, PodLookup, ServiceAccountInfo } from './types.js';
