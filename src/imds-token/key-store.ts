import { randomBytes } from 'node:crypto';
import { promises as nodeFs } from 'node:fs';
import { MAX_TOKEN_TTL_SECONDS } from '../imds-protocol/index.js';
import type { Logger } from '../log/index.js';
import { systemScheduler, type Clock, type Scheduler, type Timer } from '../time/index.js';
import { errText, openKeyDirectory, SECRET_BYTES, type KeyDirectory, type KeyFileEntry, type KeyFs } from './key-file.js';
import type { HeldKey, TokenKey, TokenKeyRing } from './key-ring.js';

/**
 * The IMDSv2 token signing keys of one node, kept in a directory on the node (key-file.ts) so
 * that a token stays valid for its whole TTL across agent restarts (real IMDS tokens do, and SDKs
 * cache them for up to 6 h). The highest readable generation signs; older ones only verify.
 *
 * Why a retired key is accepted until its successor's creation + 6 h + GRACE: a token signed with
 * it just before the switch lives at most the max TTL. GRACE covers the agents that learn of a
 * new generation only at their next reload (RELOAD_EVERY_MS). After that window the file is
 * deleted. A key whose file disappears (an admin deleted it to revoke tokens) is dropped at the
 * next reload.
 *
 * Never fatal: a missing directory is created; an unusable or future-dated key file is skipped
 * with a warning and a new generation is written; when nothing can be written (read-only file
 * system, no permission) the agent signs with a key held in memory only, with a warning, and
 * keeps serving. Nothing in the directory can hang the agent: a reload that has not finished
 * within RELOAD_DEADLINE_MS is given up (the keys held stay; no second reload starts while it hangs).
 *
 * The hot path never touches the file system: verify reads the in-memory ring, which reloads swap.
 */

/** How often a running agent rereads the directory, to pick up a rotation or a revocation. */
export const RELOAD_EVERY_MS = 60_000;
/** Extra life of a retired key beyond the max token TTL: > RELOAD_EVERY_MS, plus slack. */
export const RETIRED_KEY_GRACE_MS = 5 * 60_000;
/** A signing key older than this is replaced by a new generation (at start or a reload). */
export const MAX_KEY_AGE_MS = 30 * 24 * 3_600_000;
const RETAIN_AFTER_RETIREMENT_MS = MAX_TOKEN_TTL_SECONDS * 1000 + RETIRED_KEY_GRACE_MS;
/** A key created further in the future than this is not used: it would never age out, and would keep its predecessor valid. */
export const MAX_CLOCK_SKEW_MS = 5 * 60_000;
/** A reload that has not finished by then is given up (the keys held stay); the next one waits for it to end. */
export const RELOAD_DEADLINE_MS = 10_000;

export interface TokenKeyStore extends TokenKeyRing {
  /** Rereads the directory now (also done every RELOAD_EVERY_MS once started). Never rejects. */
  reload(): Promise<void>;
  /** Writes a new generation, which signs from now on (here at once; other agents at their next reload). */
  rotate(): Promise<TokenKey>;
  /** Where the signing key comes from: `file` (dir/key-<n>) or `memory`. */
  source(): 'file' | 'memory';
  /** Ids of the keys accepted now, signing key first. */
  keyIds(): string[];
  /** Starts the periodic reload. */
  start(): void;
  close(): void;
}

export interface TokenKeyStoreOptions {
  /** The key directory; empty or undefined: a memory key only (tokens die with the process). */
  dir: string | undefined;
  clock: Clock;
  scheduler: Scheduler;
  logger: Logger;
  fs?: KeyFs;
  /**
   * Runs the reload deadline: the file system's time is real even where a test drives the clock
   * (advancing a fake clock must not time out real I/O). Default: real timers.
   */
  ioScheduler?: Scheduler;
  /** The uid key files must belong to; default this process's (undefined where there are none). */
  uid?: number | undefined;
}

/** Creates the store and loads the keys once (never rejects); call start() for the periodic reload. */
export async function openTokenKeyStore(options: TokenKeyStoreOptions): Promise<TokenKeyStore> {
  const store = createTokenKeyStore(options);
  await store.reload();
  return store;
}

function createTokenKeyStore(options: TokenKeyStoreOptions): TokenKeyStore {
  const { clock, scheduler, logger } = options;
  const ioScheduler = options.ioScheduler ?? systemScheduler;
  const dir = options.dir === '' ? undefined : options.dir;
  const warned = new Set<string>();
  let memoryKey: HeldKey | undefined;
  let signing: HeldKey | undefined;
  let byId = new Map<string, HeldKey>();
  let timer: Timer | undefined;
  let closed = false;
  let reloading: Promise<void> | undefined;
  let hanging: Promise<void> | undefined;

  const warnOnce = (tag: string, fields: Record<string, unknown>, message: string) => {
    if (warned.has(tag)) return;
    warned.add(tag);
    logger.warn({ dir, ...fields }, message);
  };

  const files: KeyDirectory | undefined = dir === undefined
    ? undefined
    : openKeyDirectory({ dir, fs: options.fs ?? nodeFs, clock, logger, uid: 'uid' in options ? options.uid : process.getuid?.(), warnOnce });

  function useMemoryKey(reason: string): void {
    if (memoryKey === undefined) memoryKey = { key: { id: `m${randomBytes(4).toString('hex')}`, secret: randomBytes(SECRET_BYTES) }, acceptUntil: undefined };
    if (dir !== undefined) {
      const message = 'token key directory unusable: signing IMDSv2 tokens with a key held in memory, so they will not survive a restart of this agent';
      warnOnce(`memory:${reason}`, { reason }, message);
    }
    install(memoryKey, [...byId.values()].filter((held) => held !== memoryKey));
  }

  function install(next: HeldKey, accepted: HeldKey[]): void {
    const previous = signing;
    signing = next;
    const map = new Map<string, HeldKey>([[next.key.id, next]]);
    for (const held of accepted) if (held !== next) map.set(held.key.id, held);
    // A memory key that no longer signs verifies what it signed until those tokens could have expired.
    if (memoryKey !== undefined && next !== memoryKey && previous === memoryKey) {
      memoryKey = { key: memoryKey.key, acceptUntil: clock.now() + RETAIN_AFTER_RETIREMENT_MS };
    }
    if (memoryKey !== undefined && next !== memoryKey && (memoryKey.acceptUntil ?? Infinity) > clock.now()) map.set(memoryKey.key.id, memoryKey);
    byId = map;
    if (previous?.key.id !== next.key.id) {
      logger.info({ dir, key: next.key.id, source: next === memoryKey ? 'memory' : 'file', accepted: [...map.keys()] }, 'token signing key');
    }
  }

  /**
   * Loads the directory and installs its newest usable key, first creating a generation when
   * there is none, the newest is unusable or too old, or (rotation) the newest is <= newerThan.
   */
  async function load(newerThan?: number): Promise<TokenKey | undefined> {
    if (files === undefined) {
      useMemoryKey('no --token-key-dir');
      return undefined;
    }
    const dirProblem = await files.prepare();
    if (dirProblem !== undefined) return keepOrMemory(dirProblem);
    // Each round either settles on a key or creates one generation; a few rounds cover racing agents.
    for (let round = 0; ; round++) {
      let entries: KeyFileEntry[];
      try {
        entries = await files.list();
      } catch (error) {
        return keepOrMemory(errText(error));
      }
      const now = clock.now();
      for (const entry of entries) {
        if (entry.read.ok && entry.read.created > now + MAX_CLOCK_SKEW_MS) {
          entry.read = { ok: false, reason: `was created ${new Date(entry.read.created).toISOString()}, in the future` };
        }
        if (!entry.read.ok) {
          const message = 'token key file unusable, skipped (if it was the newest, a new key file is written)';
          warnOnce(`file:${entry.name}:${entry.read.reason}`, { file: entry.name, reason: entry.read.reason }, message);
        }
      }
      const top = entries[0];
      const needNew = top === undefined || !top.read.ok || now - top.read.created >= MAX_KEY_AGE_MS || (newerThan !== undefined && top.gen <= newerThan);
      if (needNew && round < 3) {
        if (await files.create((top?.gen ?? 0) + 1)) continue;
        if (newerThan !== undefined) throw new Error(`cannot write a new token key file in ${dir}`);
      }
      const head = entries.find((entry) => entry.read.ok);
      if (head === undefined || !head.read.ok) return keepOrMemory('no usable key file, and none can be written');
      install({ key: head.read.key, acceptUntil: undefined }, await retiredKeys(files, entries, head, now));
      return head.read.key;
    }
  }

  /** Keys below the head still inside their window; files past it are deleted. */
  async function retiredKeys(keyFiles: KeyDirectory, entries: KeyFileEntry[], head: KeyFileEntry, now: number): Promise<HeldKey[]> {
    const kept: HeldKey[] = [];
    let successorCreated = head.read.ok ? head.read.created : now;
    for (const entry of entries) {
      if (entry.gen >= head.gen) continue;
      const acceptUntil = successorCreated + RETAIN_AFTER_RETIREMENT_MS;
      if (now >= acceptUntil) {
        await keyFiles.remove(entry.name);
        logger.info({ dir, file: entry.name }, 'deleted a retired token key: no token signed with it can still be valid');
      } else if (entry.read.ok) {
        kept.push({ key: entry.read.key, acceptUntil });
      }
      if (entry.read.ok) successorCreated = entry.read.created;
    }
    return kept;
  }

  /** On a failed reload the keys already held stay; with none, a memory key. */
  function keepOrMemory(reason: string): undefined {
    if (signing !== undefined && signing !== memoryKey) {
      warnOnce(`reload:${reason}`, { reason }, 'cannot reread the token key directory; keeping the keys already loaded');
      return undefined;
    }
    useMemoryKey(reason);
    return undefined;
  }

  function reload(): Promise<void> {
    // One reload at a time: a timer firing during a slow one joins it.
    reloading ??= boundedLoad().finally(() => {
      reloading = undefined;
    });
    return reloading;
  }

  /**
   * A load that answers within RELOAD_DEADLINE_MS. One that takes longer is given up on (the keys
   * held stay, or a memory key), and while it still runs no other starts: a file system that
   * hangs one thread of the pool gets no second one.
   */
  async function boundedLoad(): Promise<void> {
    if (hanging !== undefined) {
      keepOrMemory('the last reload of the key directory has not finished');
      return;
    }
    const loading = load().then(
      () => undefined,
      (error: unknown) => {
        keepOrMemory(errText(error));
      },
    );
    let deadline: Timer | undefined;
    const late = new Promise<boolean>((resolve) => (deadline = ioScheduler.schedule(RELOAD_DEADLINE_MS, () => resolve(true))));
    if (await Promise.race([loading.then(() => false), late])) {
      hanging = loading.finally(() => {
        hanging = undefined;
      });
      keepOrMemory(`reading the key directory took longer than ${RELOAD_DEADLINE_MS / 1000} s`);
    }
    deadline?.cancel();
  }

  function scheduleReload(): void {
    if (closed) return;
    timer = scheduler.schedule(RELOAD_EVERY_MS, () => {
      void reload().then(scheduleReload);
    });
  }

  return {
    signingKey() {
      if (signing === undefined) useMemoryKey('keys not loaded yet');
      return (signing as HeldKey).key;
    },
    lookup(id) {
      return byId.get(id);
    },
    reload,
    async rotate() {
      if (dir === undefined) throw new Error('no token key directory (--token-key-dir) to rotate');
      await reloading;
      const current = await load();
      if (current === undefined) throw new Error(`cannot read the token keys in ${dir}`);
      const key = await load(Number(current.id));
      if (key === undefined) throw new Error(`cannot rotate the token key in ${dir}`);
      return key;
    },
    source: () => (signing !== undefined && signing === memoryKey ? 'memory' : 'file'),
    keyIds: () => [...byId.keys()],
    start() {
      if (timer === undefined) scheduleReload();
    },
    close() {
      closed = true;
      timer?.cancel();
    },
  };
}
