import type { Logger } from '../log/index.js';
import type { Clock, Scheduler, Timer } from '../time/index.js';
import { httpStatusOf, retryAfterOf, type KubeTransport } from './api/transport-types.js';
import { DEFAULT_BACKOFF, retryDelay, type BackoffOptions } from './backoff.js';
import { record } from './values.js';

export interface StartupTaintOptions {
  transport: Pick<KubeTransport, 'getNode' | 'patchNode'>;
  nodeName: string;
  /** The taint's key; the taint goes whatever its effect and value. */
  key: string;
  clock: Clock;
  scheduler: Scheduler;
  logger: Logger;
  backoff?: BackoffOptions;
  random?: () => number;
}

type StartupTaintOutcome = 'removed' | 'absent' | 'stopped';

export interface StartupTaintRemoval {
  /** Settles once the node carries no taint with the key (removed now, or it never had it), or stop() was called. */
  readonly done: Promise<StartupTaintOutcome>;
  stop(): void;
}

/**
 * Takes the start-up taint off this node, once: new nodes register with it, so nothing is
 * scheduled there before corridor serves. Read the node, then a JSON patch whose first operation
 * tests that the taints are still what was read and whose second writes them without ours, so a
 * taint another controller added meanwhile is never lost (the patch fails with 422 and the whole
 * step is tried again). Every failure is retried with capped, jittered backoff until it works or
 * the agent stops: a node that keeps its taint takes no pods, which is the safe side.
 */
export function removeStartupTaint(options: StartupTaintOptions): StartupTaintRemoval {
  const { transport, nodeName, key, clock, scheduler } = options;
  const logger = options.logger.child({ component: 'startup-taint', node: nodeName, taint: key });
  const backoff = options.backoff ?? DEFAULT_BACKOFF;
  const startedAt = clock.now();
  let failures = 0;
  let timer: Timer | undefined;
  let stopped = false;
  let finish: (outcome: StartupTaintOutcome) => void = () => {};
  const done = new Promise<StartupTaintOutcome>((resolve) => {
    finish = resolve;
  });

  const attempt = async (): Promise<void> => {
    timer = undefined;
    try {
      const taints = taintsOf(await transport.getNode(nodeName));
      const kept = taints.filter((taint) => record(taint).key !== key);
      if (kept.length === taints.length) {
        logger.info('no start-up taint on this node');
        return settle('absent');
      }
      await transport.patchNode(nodeName, [
        { op: 'test', path: '/spec/taints', value: taints },
        { op: 'replace', path: '/spec/taints', value: kept },
      ]);
      logger.info({ afterMs: clock.now() - startedAt, attempts: failures + 1 }, 'start-up taint removed: pods may be scheduled on this node');
      settle('removed');
    } catch (error) {
      if (stopped) return;
      // A 429 or 503 with Retry-After: at least that long, jittered (the whole fleet may be turned away at once).
      const retryAfterMs = retryAfterOf(error);
      const delayMs = retryDelay(failures++, backoff, retryAfterMs, options.random);
      const status = httpStatusOf(error);
      // 422: the taints changed between read and patch; anything else is the API server or RBAC.
      const message = status === 422 ? 'node taints changed meanwhile; reading them again' : 'removing the start-up taint failed; retrying';
      logger.warn({ status, retryAfterMs, err: error, delayMs, attempts: failures }, message);
      timer = scheduler.schedule(delayMs, () => void attempt());
    }
  };

  function settle(outcome: StartupTaintOutcome): void {
    stopped = true;
    finish(outcome);
  }

  void attempt();
  return {
    done,
    stop() {
      if (stopped) return;
      timer?.cancel();
      settle('stopped');
    },
  };
}

/** spec.taints as the API server sent it (the `test` operation compares exactly this), [] when absent. */
function taintsOf(node: unknown): unknown[] {
  const taints = record(record(node).spec).taints;
  return Array.isArray(taints) ? taints : [];
}
