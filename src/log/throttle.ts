import type { Scheduler, Timer } from '../time/index.js';
import type { Logger } from './logger.js';

/**
 * Log lines a caller can trigger at will (a failed passthrough, an unknown source, a refused
 * connection): the first of each kind is written at once, the rest are counted, and at most one
 * line per kind and interval says how many more there were. A steady flood costs one line per
 * interval; a kind quiet for a whole interval starts over. Kinds must come from a small fixed set
 * (a reason, an allowlisted path), never from what the caller sends.
 */
export interface LogThrottle {
  /** Writes `msg` with `fields` now, or counts it for the kind's next summary line. */
  note(kind: string, fields: Record<string, unknown>, msg: string): void;
  close(): void;
}

interface Kind {
  repeated: number;
  last: Record<string, unknown>;
  msg: string;
  timer: Timer;
}

/** One summary line per kind every 10 s at most. */
const INTERVAL_MS = 10_000;

export function createLogThrottle(options: { logger: Logger; level: 'info' | 'warn'; scheduler: Scheduler; intervalMs?: number }): LogThrottle {
  const { logger, level, scheduler, intervalMs = INTERVAL_MS } = options;
  const kinds = new Map<string, Kind>();

  function summarize(name: string): void {
    const kind = kinds.get(name);
    if (kind === undefined) return;
    if (kind.repeated === 0) {
      kinds.delete(name);
      return;
    }
    logger[level]({ ...kind.last, repeated: kind.repeated, withinSeconds: intervalMs / 1000 }, kind.msg);
    kind.repeated = 0;
    kind.timer = scheduler.schedule(intervalMs, () => summarize(name));
  }

  return {
    note(name, fields, msg) {
      const kind = kinds.get(name);
      if (kind !== undefined) {
        kind.repeated++;
        kind.last = fields;
        kind.msg = msg;
        return;
      }
      logger[level](fields, msg);
      kinds.set(name, { repeated: 0, last: fields, msg, timer: scheduler.schedule(intervalMs, () => summarize(name)) });
    },
    close() {
      for (const kind of kinds.values()) kind.timer.cancel();
      kinds.clear();
    },
  };
}
