import type { Server } from 'node:http';
import type { Socket } from 'node:net';
import { peerAddress } from '../net/index.js';
import type { Clock, Scheduler, Timer } from '../time/index.js';

/**
 * Per-caller limits for a server every pod on the node can reach: connections, request rate and
 * requests in flight, keyed by the TCP peer address. The point is what a caller over its limits
 * costs: almost nothing. Its connections are not read any more (the kernel holds what it sends,
 * and its writes block), so a flood is neither parsed nor answered at line rate.
 *
 * - A request within budget takes a token and is served.
 * - The first request over budget on a connection gets 429 with `Connection: close`; requests it
 *   had pipelined behind it are dropped with that connection. Every other connection of the
 *   caller is held unread, and so are the ones it opens while held.
 * - A held caller is released one connection at a time, each time its bucket has refilled a
 *   tenth of a second's worth, so it still gets its rate; once its bucket is full again (it has
 *   been quiet), all of it is released. Releasing one at a time is what keeps other pods fast: a
 *   connection released at once reads a whole pipelined chunk.
 * - Connections are counted in pools that never compete: the exempt (the node itself), the pods,
 *   and, when `strangers` says so, callers that are no pod of this node. A connection over its
 *   caller's or its pool's count is closed as it arrives, and `onRefused` is told why.
 */
export interface CallerGuardOptions {
  /** Requests per second one caller may make; 0 turns the rate limit off. */
  perSecond: number;
  /** Requests a caller may make at once before the rate applies. */
  burst: number;
  /** Open connections one caller may hold; more are closed as they arrive. */
  maxConnectionsPerCaller: number;
  /** Requests one caller may have in flight (a cache miss, a pod-start wait, a passthrough). */
  maxInFlightPerCaller: number;
  /** Open connections in all, for callers that are not exempt; past it new ones are closed. */
  maxConnections: number;
  /**
   * Callers trusted not to flood (localhost: the node's admin): no rate limit and not counted in
   * `maxConnections`, but still at most `maxConnectionsPerExempt` connections each, so nothing
   * that shares the node's addresses can use up the file descriptors.
   */
  exempt?: (ip: string) => boolean;
  maxConnectionsPerExempt?: number;
  /**
   * Callers that are no pod of this node (another node's pods, a pod the watch has not delivered
   * yet): a pool of their own, so they can neither fill the pods' budget nor be crowded out by
   * it. Decided when a connection opens. Absent: every caller that is not exempt is a pod.
   */
  strangers?: { is: (ip: string) => boolean; maxConnectionsPerCaller: number; maxConnections: number };
  /** Told of every connection closed as it arrives, and why (metrics, a bounded log). */
  onRefused?: (reason: RefusalReason, ip: string) => void;
  clock: Clock;
  scheduler: Scheduler;
}

/** Why a connection was closed as it arrived: the `reason` label of corridor_connections_refused_total. */
export type RefusalReason =
  | 'caller-limit'
  | 'total-limit'
  | 'stranger-caller-limit'
  | 'stranger-total-limit'
  | 'node-caller-limit'
  | 'too-many-callers';

type Admission = 'serve' | 'limited' | 'drop';

export interface CallerGuard {
  /** Watches the server's connections; call once, before it listens. */
  attach(server: Server): void;
  /**
   * One request from `ip` on `socket`: 'serve' (call `finished` when it is answered), 'limited'
   * (answer 429 with Connection: close) or 'drop' (answer nothing; the connection is closed).
   */
  admit(ip: string, socket: Socket): Admission;
  finished(ip: string, socket: Socket): void;
  /** Callers tracked now; idle ones are forgotten, active ones never. */
  trackedCallers(): number;
  close(): void;
}

interface Caller {
  tokens: number;
  updatedAt: number;
  sockets: Set<Socket>;
  inFlight: number;
  /** Over budget: connections are held unread and released one per `releaseEveryMs`. */
  held: Socket[] | undefined;
  release: Timer | undefined;
}

interface Connection {
  caller: Caller;
  inFlight: number;
  /** Answered 429 with Connection: close; whatever it pipelined after that is dropped. */
  closing: boolean;
}

// Enough for every pod, node address and port-forward on a node many times over; past it, only
// callers that hold nothing (no connection, nothing in flight, a full bucket) are forgotten.
const MAX_TRACKED_CALLERS = 16_384;

/** A set of callers sharing one connection budget. */
interface Pool {
  perCaller: number;
  max: number;
  open: number;
  callerLimit: RefusalReason;
  totalLimit: RefusalReason;
}

export function createCallerGuard(options: CallerGuardOptions): CallerGuard {
  const { perSecond, burst, clock, scheduler } = options;
  const exempt = options.exempt ?? (() => false);
  const refused = options.onRefused ?? (() => {});
  const pods: Pool = {
    perCaller: options.maxConnectionsPerCaller,
    max: options.maxConnections,
    open: 0,
    callerLimit: 'caller-limit',
    totalLimit: 'total-limit',
  };
  const strangers: Pool | undefined = options.strangers && {
    perCaller: options.strangers.maxConnectionsPerCaller,
    max: options.strangers.maxConnections,
    open: 0,
    callerLimit: 'stranger-caller-limit',
    totalLimit: 'stranger-total-limit',
  };
  const limited = perSecond > 0;
  const releaseEveryMs = limited ? Math.max(1, Math.ceil(1000 / Math.min(perSecond, 10))) : 0;
  const callers = new Map<string, Caller>();
  const connections = new WeakMap<Socket, Connection>();

  function callerOf(ip: string): Caller | undefined {
    let caller = callers.get(ip);
    if (caller === undefined) {
      if (callers.size >= MAX_TRACKED_CALLERS && !forgetIdle()) return undefined;
      caller = { tokens: burst, updatedAt: clock.now(), sockets: new Set(), inFlight: 0, held: undefined, release: undefined };
      callers.set(ip, caller);
    }
    return caller;
  }

  function refill(caller: Caller, now: number): void {
    if (now > caller.updatedAt) {
      caller.tokens = Math.min(burst, caller.tokens + ((now - caller.updatedAt) * perSecond) / 1000);
      caller.updatedAt = now;
    }
  }

  /** Forgets every caller that holds nothing; a fresh entry for it would be identical. */
  function forgetIdle(): boolean {
    const now = clock.now();
    const before = callers.size;
    for (const [ip, caller] of callers) {
      if (caller.sockets.size > 0 || caller.inFlight > 0 || caller.held !== undefined) continue;
      refill(caller, now);
      if (caller.tokens >= burst) callers.delete(ip);
    }
    return callers.size < before;
  }

  function hold(caller: Caller, socket: Socket): void {
    socket.pause();
    caller.held!.push(socket);
  }

  const exemptOpen = new Map<string, number>();
  function countExempt(ip: string, socket: Socket): void {
    const open = exemptOpen.get(ip) ?? 0;
    if (open >= (options.maxConnectionsPerExempt ?? 64)) {
      refuse(socket, 'node-caller-limit', ip);
      return;
    }
    exemptOpen.set(ip, open + 1);
    socket.once('close', () => {
      const left = (exemptOpen.get(ip) ?? 1) - 1;
      if (left === 0) exemptOpen.delete(ip);
      else exemptOpen.set(ip, left);
    });
  }

  function holdNew(caller: Caller, socket: Socket): void {
    if (caller.held !== undefined && !socket.destroyed) hold(caller, socket);
  }

  function startHolding(caller: Caller, except: Socket): void {
    caller.held = [];
    for (const socket of caller.sockets) if (socket !== except) hold(caller, socket);
    scheduleRelease(caller);
  }

  function scheduleRelease(caller: Caller): void {
    caller.release = scheduler.schedule(releaseEveryMs, () => releaseSome(caller));
  }

  function releaseSome(caller: Caller): void {
    caller.release = undefined;
    const held = caller.held;
    if (held === undefined) return;
    refill(caller, clock.now());
    if (caller.tokens >= burst || held.length === 0) {
      caller.held = undefined;
      for (const socket of held) socket.resume();
      return;
    }
    held.shift()!.resume();
    scheduleRelease(caller);
  }

  function refuse(socket: Socket, reason: RefusalReason, ip: string): void {
    socket.destroy();
    refused(reason, ip);
  }

  function onConnection(socket: Socket): void {
    const ip = peerAddress(socket.remoteAddress);
    if (exempt(ip)) {
      countExempt(ip, socket);
      return;
    }
    const pool = strangers !== undefined && options.strangers!.is(ip) ? strangers : pods;
    const caller = callerOf(ip);
    if (caller === undefined) return refuse(socket, 'too-many-callers', ip);
    if (caller.sockets.size >= pool.perCaller) return refuse(socket, pool.callerLimit, ip);
    if (pool.open >= pool.max) return refuse(socket, pool.totalLimit, ip);
    pool.open++;
    caller.sockets.add(socket);
    const connection: Connection = { caller, inFlight: 0, closing: false };
    connections.set(socket, connection);
    // Deferred: the HTTP server has just scheduled this socket's first resume, which would undo
    // a pause made now.
    if (caller.held !== undefined) process.nextTick(holdNew, caller, socket);
    socket.once('close', () => {
      pool.open--;
      caller.sockets.delete(socket);
      caller.inFlight -= connection.inFlight;
      connection.inFlight = 0;
      if (caller.held !== undefined) {
        const at = caller.held.indexOf(socket);
        if (at !== -1) caller.held.splice(at, 1);
      }
    });
  }

  return {
    attach(server) {
      server.on('connection', onConnection);
    },
    admit(ip, socket) {
      if (exempt(ip)) return 'serve';
      const connection = connections.get(socket);
      // Answered 429 with Connection: close: the server closes it once that answer is out.
      if (connection?.closing) return 'drop';
      // A request whose connection the server saw (inject() has none) counts against it too.
      const caller = connection?.caller ?? callerOf(ip);
      if (caller === undefined) return 'limited';
      if (limited) {
        refill(caller, clock.now());
        if (caller.tokens < 1 || caller.inFlight >= options.maxInFlightPerCaller) {
          if (connection) connection.closing = true;
          if (caller.held === undefined) startHolding(caller, socket);
          return 'limited';
        }
        caller.tokens -= 1;
      } else if (caller.inFlight >= options.maxInFlightPerCaller) {
        if (connection) connection.closing = true;
        return 'limited';
      }
      caller.inFlight++;
      if (connection) connection.inFlight++;
      return 'serve';
    },
    finished(ip, socket) {
      if (exempt(ip)) return;
      const connection = connections.get(socket);
      const caller = connection?.caller ?? callers.get(ip);
      if (caller === undefined) return;
      // A connection that closed first has already given its requests back.
      if (connection !== undefined) {
        if (connection.inFlight === 0) return;
        connection.inFlight--;
      }
      if (caller.inFlight > 0) caller.inFlight--;
    },
    trackedCallers: () => callers.size,
    close() {
      for (const caller of callers.values()) caller.release?.cancel();
    },
  };
}
