import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { delimiter, join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';

export interface KubeConfigSources {
  env?: NodeJS.ProcessEnv;
  homeDir?: string;
}

/**
 * client-node's KubeConfig, for `corridor explain` and the agent's fallback transport (see
 * client-node.ts); the agent itself resolves its connection with connection.ts, the same way.
 * Where to find the API server: the explicit file; else in-cluster (the DaemonSet's
 * ServiceAccount); else $KUBECONFIG or ~/.kube/config. client-node's own default falls back to
 * http://localhost:8080 without a word, which is never what an agent wants, so that case is an
 * error here.
 */
export function loadKubeConfig(path?: string, sources: KubeConfigSources = {}): KubeConfig {
  const env = sources.env ?? process.env;
  const kubeConfig = new KubeConfig();
  if (path !== undefined && path !== '') {
    loadFile(kubeConfig, path);
  } else if (env.KUBERNETES_SERVICE_HOST) {
    // loadFromCluster reads process.env itself; the caller's env decides only that we are in a cluster.
    kubeConfig.loadFromCluster();
  } else if (env.KUBECONFIG) {
    // Like kubectl, the first file's current-context wins; client-node refuses duplicate names.
    const [first, ...rest] = env.KUBECONFIG.split(delimiter).filter(Boolean);
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
  } else {
    const file = join(sources.homeDir ?? homedir(), '.kube', 'config');
    if (!existsSync(file)) {
      throw new Error(
        'no Kubernetes configuration found: pass --kubeconfig, run in a cluster (KUBERNETES_SERVICE_HOST), or create ~/.kube/config',
      );
    }
    loadFile(kubeConfig, file);
  }
  if (!kubeConfig.getCurrentCluster()) {
    throw new Error('the Kubernetes configuration has no current cluster (check current-context)');
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

function firstLine(error: unknown): string {
  return (error instanceof Error ? error.message : String(error)).split('\n')[0] ?? '';
}
