import type { Test } from 'tap';
import { startFakeKubeApi, type FakeKubeApi, type FakeKubeApiOptions } from '../../demo/fake-kube-api.js';

export {
  FakeKubeApi,
  makeNamespace,
  makePod,
  makeServiceAccount,
} from '../../demo/fake-kube-api.js';
export type {
  FakeKubeApiOptions,
  FakeRequest,
  KubeObject,
} from '../../demo/fake-kube-api.js';

/** A fake API server closed when the test ends. */
export async function fakeKubeApi(t: Test, options: FakeKubeApiOptions = {}): Promise<FakeKubeApi> {
  const api = await startFakeKubeApi(options);
  t.teardown(() => api.close());
  return api;
}

/**
 * Rejects if `promise` has not settled in `ms`: a missed event then fails its test in seconds
 * with a name, instead of hanging until the suite timeout.
 */
export function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
