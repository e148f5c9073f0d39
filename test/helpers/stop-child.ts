import { once } from 'node:events';
import type { ChildProcess } from 'node:child_process';

/**
 * Stops a child the test started: SIGTERM, then SIGKILL if it has not exited after `graceMs`.
 * Resolves with its exit code once it has exited (at once when it already had).
 */
export async function stopChild(child: ChildProcess, graceMs = 5_000): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
  const exited = once(child, 'exit') as Promise<[number | null]>;
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  const [code] = await exited;
  clearTimeout(timer);
  return code;
}
