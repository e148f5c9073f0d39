/**
 * The parts of the kube domain built on @kubernetes/client-node, kept out of index.ts on purpose:
 * importing client-node costs about 90 MB of RSS, so only `corridor explain` imports this file
 * directly, and the agent imports it dynamically, only for kubeconfig users that need it.
 */
export { loadKubeConfig } from './kubeconfig.js';
export { createClientNodeTransport, withSignal } from './client-node-transport.js';
