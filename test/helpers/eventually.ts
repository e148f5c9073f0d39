import { inspect } from 'node:util';
/**
 * Resolves with what `probe` returns once that is neither undefined nor false, asking every
 * `intervalMs`, and rejects naming `what` after `timeoutMs`. For other processes that tell no one
 * when they are done (Prometheus scraping, kubelet starting a pod): they are asked again until they
 * say so. A probe that throws counts as not yet; its last error is in the rejection.
 */
export async function eventually<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined | false>, intervalMs = 200): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined && value !== false) return value;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${last instanceof Error ? String(last) : inspect(last)}` : ''}`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}
