import { ApiException, CoreV1Api } from '@kubernetes/client-node';
// client-node is what a person's kubeconfig most likely needs (exec plugins such as `aws eks
// get-token`); the commands that import this file load on demand, so the agent never pays for it.
import { loadKubeConfig } from './client-node.js';
import { locateKubeConfig } from './connection.js';

/** The API of the cluster a person's kubeconfig names, and where that is, for error lines. */
export interface ClusterApi {
  core: CoreV1Api;
  /** `the API server at <server> (kubeconfig <files>, context <name>)`, or `(in-cluster)`. */
  where: string;
}

/**
 * Opens the kubeconfig as the agent finds it (--kubeconfig, in-cluster, KUBECONFIG,
 * ~/.kube/config), https:// or plain http:// (`kubectl proxy`). Throws an error whose message
 * names the kubeconfig and the cause.
 */
export function openClusterApi(kubeconfig: string | undefined, context: string | undefined): ClusterApi {
  const kubeConfig = loadKubeConfig(kubeconfig, {}, context);
  const location = locateKubeConfig(kubeconfig);
  const source = location.kind === 'in-cluster' ? 'in-cluster' : `kubeconfig ${location.files.join(', ')}, context ${kubeConfig.getCurrentContext()}`;
  return { core: kubeConfig.makeApiClient(CoreV1Api), where: `the API server at ${kubeConfig.getCurrentCluster()?.server} (${source})` };
}

/** One line: client-node's errors carry the API server's Status message in their body, or a cause. */
export function describeApiError(error: unknown): string {
  if (error instanceof ApiException) {
    // The body is the Status object, parsed or as text.
    let body = error.body as unknown;
    if (typeof body === 'string') {
      try {
        body = JSON.parse(body);
      } catch {
        body = undefined;
      }
    }
    let message = typeof body === 'object' && body !== null ? (body as { message?: unknown }).message : undefined;
    // Without a body client-node's own message has a `Message:` line (a reason phrase, or its placeholder).
    if (typeof message !== 'string') message = /^Message: (.+)$/m.exec(error.message)?.[1]?.replace(/^Unknown API Status Code!$/, '');
    return `HTTP ${error.code}${typeof message === 'string' && message !== '' ? `: ${message.split('\n')[0]}` : ''}`;
  }
  const text = error instanceof Error ? error.message : String(error);
  return text.split('\n')[0] ?? '';
}
