import type { KubeConfig } from '@kubernetes/client-node';
import type { Test } from 'tap';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadKubeConfig } from '../../src/kube/api/client-node.js';
import type { FakeKubeApi } from './fake-kube-api.js';

/**
 * A client-node KubeConfig for the API stand-in, loaded from a kubeconfig file the way the agent
 * and the commands load one, for tests of client-node paths (the fallback transport, explain).
 * Kept apart from fake-kube-api.ts so other tests do not load client-node.
 */
export function clientNodeKubeConfig(t: Test, api: FakeKubeApi): KubeConfig {
  const file = join(t.testdir({}), 'kubeconfig');
  writeFileSync(file, api.kubeConfigText());
  return loadKubeConfig(file);
}
