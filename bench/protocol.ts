/** Messages between the bench and a server child (bench/child.ts). */

export type ChildRequest =
  | { type: 'start-agent'; args: string[]; stsEndpoint: string }
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
