import { Server } from 'node:net';
import type { Scheduler } from '../time/index.js';

/** Connections still open after this are left to close(): a client idling on keep-alive past it has the keep-alive timeout's answer anyway. */
const DRAIN_MS = 6000;

/**
 * Stops accepting on the metadata listeners and lets the connections they accepted finish, at
 * most DRAIN_MS. Only the listening sockets close (net.Server's close, not http.Server's, which
 * would also cut connections accepted a moment ago whose request has not arrived yet): in a
 * handover the successor takes every new connection, and no call made to this agent is lost.
 * Resolves with whether every connection ended in time.
 */
export async function drainListeners(listeners: readonly Server[], scheduler: Scheduler): Promise<boolean> {
  const ended = listeners.filter((listener) => listener.listening).map(
    // net.Server's close calls back once the listener is closed and its last connection has ended.
    (listener) => new Promise<void>((resolve) => Server.prototype.close.call(listener, () => resolve())),
  );
  let timer: { cancel(): void } | undefined;
  const late = new Promise<false>((resolve) => (timer = scheduler.schedule(DRAIN_MS, () => resolve(false))));
  const drained = await Promise.race([Promise.all(ended).then(() => true as const), late]);
  timer?.cancel();
  return drained;
}
