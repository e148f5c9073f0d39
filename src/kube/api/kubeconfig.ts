import { KubeConfig } from '@kubernetes/client-node';
import { firstLine } from '../values.js';
import { locateKubeConfig } from './connection.js';

export interface KubeConfigSources {
  env?: NodeJS.ProcessEnv;
  homeDir?: string;
}

/**
 * client-node's KubeConfig, for `corridor explain` and the agent's fallback transport (see
 * client-node.ts), found where connection.ts's locateKubeConfig says. Several KUBECONFIG files
 * are merged by client-node, which refuses duplicate names. `context` picks one of its contexts
 * instead of its current-context (kubectl's --context).
 */
export function loadKubeConfig(path?: string, sources: KubeConfigSources = {}, context?: string): KubeConfig {
  const kubeConfig = new KubeConfig();
  const location = locateKubeConfig(path, sources);
  if (location.kind === 'in-cluster') {
    // loadFromCluster reads process.env itself; the caller's env decides only that we are in a cluster.
    kubeConfig.loadFromCluster();
  } else {
    const [first, ...rest] = location.files;
    if (first !== undefined) loadFile(kubeConfig, first);
    for (const file of rest) {
      const more = new KubeConfig();
      loadFile(more, file);
      try {
        kubeConfig.mergeConfig(more, true);
      } catch (error) {
        throw new Error(`cannot merge kubeconfig ${file} (from KUBECONFIG): ${firstLine(error)}`);
      }
    }
  }
  if (context !== undefined) {
    if (kubeConfig.getContextObject(context) === null) throw new Error(`the Kubernetes configuration has no context "${context}"`);
    kubeConfig.setCurrentContext(context);
  }
  const current = kubeConfig.getCurrentCluster();
  if (!current) {
    throw new Error('the Kubernetes configuration has no current cluster (check current-context)');
  }
  // kubectl and the agent's own transport speak plain HTTP to an http:// server (`kubectl proxy`);
  // client-node refuses one unless skipTLSVerify is set, which means nothing without TLS.
  if (current.server.startsWith('http:') && !current.skipTLSVerify) {
    kubeConfig.clusters = kubeConfig.clusters.map((cluster) => (cluster === current ? { ...cluster, skipTLSVerify: true } : cluster));
  }
  return kubeConfig;
}

function loadFile(kubeConfig: KubeConfig, file: string): void {
  try {
    kubeConfig.loadFromFile(file);
  } catch (error) {
    throw new Error(`cannot load kubeconfig ${file}: ${firstLine(error)}`);
  }
}
