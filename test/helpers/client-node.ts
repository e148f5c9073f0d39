import { KubeConfig } from '@kubernetes/client-node';
import type { FakeKubeApi } from './fake-kube-api.js';

/**
 * A client-node KubeConfig for the API stand-in, for tests of client-node paths (the fallback
 * transport, explain). Kept apart from fake-kube-api.ts so other tests do not load client-node.
 */
export function clientNodeKubeConfig(api: FakeKubeApi): KubeConfig {
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromString(api.kubeConfigText());
  return kubeConfig;
}
