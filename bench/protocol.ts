/** Messages between the bench and a server child (bench/child.ts). */

export type ChildRequest =
  /** `defaultLimits`: keep the agent's own rate limit (the flood bench) instead of lifting it. */
  | { type: 'start-agent'; args: string[]; stsEndpoint: string; defaultLimits?: boolean }
  | { type: 'start-bare'; body: string; contentType: string }
  | { type: 'stats' }
  | { type: 'stop' };

export interface ChildStats {
  /** Resident set size, bytes. */
  rss: number;
  heapUsed: number;
  heapTotal: number;
  external: number;
  /** user + system CPU time since the process started, microseconds. */
  cpuMicros: number;
  /** performance.now() in the child when sampled, ms. */
  at: number;
}

export type ChildReply =
  | { type: 'ready'; url: string; adminUrl?: string }
  | { type: 'stats'; stats: ChildStats }
  | { type: 'error'; message: string };
