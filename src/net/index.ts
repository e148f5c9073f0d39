/** How corridor names network peers: one text form per address, so identities compare as strings. */
export { isLocalhost, peerAddress, socketForm } from './address.js';
export { connectionBudget, DEFAULT_CONNECTION_BUDGET, openFileLimit } from './open-files.js';
export type { ConnectionBudget } from './open-files.js';
export { listeningInodes, socketInodesOf } from './listeners.js';
export { reportSharedBridges, sharedBridges } from './shared-bridges.js';
export type { SharedBridge } from './shared-bridges.js';
