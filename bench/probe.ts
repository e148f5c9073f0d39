import { setTimeout as sleep } from 'node:timers/promises';
import { get } from './load.js';

/** Polls until `check` returns a value (not undefined), every `everyMs`, failing after `timeoutMs`. */
export async function until<T>(what: string, check: () => Promise<T | undefined>, timeoutMs: number, everyMs = 20): Promise<T> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const value = await check().catch(() => undefined);
    if (value !== undefined) return value;
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(everyMs);
  }
}

/** A gauge or counter value from the agent's /metrics (first series with that name). */
export async function metricValue(adminUrl: string, name: string): Promise<number | undefined> {
  const { body } = await get(adminUrl, '/metrics');
  const match = new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'm').exec(body);
  return match ? Number(match[1]) : undefined;
}

/** Waits until the agent has listed pods and namespaces and holds `sessions` STS sessions. */
export async function waitForSessions(adminUrl: string, sessions: number, timeoutMs: number): Promise<void> {
  await until('the agent to be ready', async () => ((await get(adminUrl, '/readyz')).status === 200 ? true : undefined), timeoutMs);
  await until(`${sessions} sessions`, async () => ((await metricValue(adminUrl, 'corridor_sessions')) === sessions ? true : undefined), timeoutMs);
}
