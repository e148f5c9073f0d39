import { UpstreamBusyError } from './errors.js';

interface Slot {
  /** Resolves when this request may use a connection. */
  granted: Promise<void>;
  /** Gives the connection (or the place in the queue) back; safe to call once in any state. */
  release(): void;
}

/** At most `max` holders and `maxQueued` waiting, first come first served. */
export function createSlots(max: number, maxQueued: number): { take(): Slot } {
  let active = 0;
  const waiting: Array<() => void> = [];

  function next(): void {
    const grant = waiting.shift();
    if (grant) grant();
    else active--;
  }

  return {
    take() {
      if (active < max) {
        active++;
        let released = false;
        return { granted: Promise.resolve(), release: () => { if (!released) { released = true; next(); } } };
      }
      if (waiting.length >= maxQueued) throw new UpstreamBusyError(max, maxQueued);
      let state: 'waiting' | 'holding' | 'released' = 'waiting';
      let grant!: () => void;
      const granted = new Promise<void>((resolve) => {
        grant = () => { state = 'holding'; resolve(); };
      });
      waiting.push(grant);
      return {
        granted,
        release: () => {
          if (state === 'holding') next();
          else if (state === 'waiting') {
            // Its deadline passed while it waited: it leaves the queue at once.
            const at = waiting.indexOf(grant);
            if (at >= 0) waiting.splice(at, 1);
          }
          state = 'released';
        },
      };
    },
  };
}
