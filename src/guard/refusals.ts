import type { LogThrottle } from '../log/index.js';
import type { Metrics } from '../metrics/index.js';
import type { RefusalReason } from './caller-guard.js';

/** Which exposed server refused: the `server` label of corridor_connections_refused_total. */
export type GuardedServer = 'imds' | 'admin';

/**
 * Counts each connection a server closed as it arrived, by reason, and logs it through `log`: the
 * first of a reason at once, then one line per interval with how many more (a flood is a
 * finding for the operator, and must not become a flood of log lines).
 */
export function recordRefusals(server: GuardedServer, metrics: Metrics, log: LogThrottle): (reason: RefusalReason, ip: string) => void {
  const counters = new Map<RefusalReason, { inc(): void }>();
  return (reason, ip) => {
    let counter = counters.get(reason);
    if (counter === undefined) counters.set(reason, (counter = metrics.connectionsRefused.labels(server, reason)));
    counter.inc();
    log.note(reason, { server, reason, ip }, 'connection refused: over its budget');
  };
}
