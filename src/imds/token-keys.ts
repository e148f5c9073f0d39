import { randomBytes } from 'node:crypto';
import { constants, promises as nodeFs } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from '../log/index.js';
import { systemScheduler, type Clock, type Scheduler, type Timer } from '../time/index.js';
import { MAX_TOKEN_TTL_SECONDS } from './token.js';

/**
 * The IMDSv2 token signing keys of one node, kept in a directory on the node so that a token
 * stays valid for its whole TTL across agent restarts (real IMDS tokens do, and SDKs cache them
 * for up to 6 h).
 *
 * Layout: one file per key generation, `key-<n>` (n = 1, 2, ...), JSON
 * `{"v":1,"created":<ms>,"secret":"<32 bytes base64url>"}`, mode 0600, in a 0700 directory.
 * The highest readable generation signs; older ones only verify.
 *
 * Why generations created with link(): a key file is written in full to a temp file, then
 * link()ed to its final name, which fails with EEXIST if that name exists. So no reader ever sees
 * a half-written key, a file never changes once it has its name, and two agents that start at
 * once on one node (a rolling update) or rotate at once create one `key-<n+1>` between them and
 * both use it.
 *
 * Why a retired key is accepted until its successor's creation + 6 h + GRACE: a token signed with
 * it just before the switch lives at most the max TTL. GRACE covers the agents that learn of a
 * new generation only at their next reload (RELOAD_EVERY_MS). After that window the file is
 * deleted. A key whose file disappears (an admin deleted it to revoke tokens) is dropped at the
 * next reload.
 *
 * Never fatal: a missing directory is created; an unreadable, corrupt, truncated, symlinked,
 * foreign-owned, not regular (a FIFO, a device) or future-dated key file is skipped with a
 * warning and a new generation is written; when nothing can be written (read-only file system,
 * no permission) the agent signs with a key held in memory only, with a warning, and keeps
 * serving. Nothing in the directory can hang the agent: files are opened without blocking, and
 * a reload that has not finished within RELOAD_DEADLINE_MS is given up (the keys held stay; no
 * second reload starts while it hangs). A file is only chmodded when it is a regular file with
 * one link (one of the store's making), never a hard link to some other file of the agent's.
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
const STALE_TEMP_MS = 3_600_000;
/** A key created further in the future than this is not used: it would never age out, and would keep its predecessor valid. */
export const MAX_CLOCK_SKEW_MS = 5 * 60_000;
/** A reload that has not finished by then is given up (the keys held stay); the next one waits for it to end. */
export const RELOAD_DEADLINE_MS = 10_000;
const SECRET_BYTES = 32;
const MAX_KEY_FILE_BYTES = 1024;
const KEY_FILE = /^key-([1-9]\d{0,8})$/;
const TEMP_FILE = /^\.key-\d+\.[0-9a-f]+\.tmp$/;

export interface TokenKey {
  /** Carried in the token so verification picks the key: the generation, or m<hex> for a memory key. */
  id: string;
  secret: Buffer;
}

/** What the token issuer needs, synchronously, on every request. */
export interface TokenKeyRing {
  /** The key new tokens are signed with. */
  signingKey(): TokenKey;
  /** The key with this id, and until when tokens signed with it are accepted (undefined: no limit). */
  lookup(id: string): { key: TokenKey; acceptUntil: number | undefined } | undefined;
}

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

/** The parts of node:fs/promises the store uses; tests wrap the real ones to inject failures. */
export type KeyFs = Pick<typeof nodeFs, 'mkdir' | 'stat' | 'chmod' | 'readdir' | 'open' | 'link' | 'unlink'>;

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

interface Held {
  key: TokenKey;
  acceptUntil: number | undefined;
}

type FileRead = { ok: true; key: TokenKey; created: number } | { ok: false; reason: string };

interface Entry {
  gen: number;
  name: string;
  read: FileRead;
}

/** Creates the store and loads the keys once (never rejects); call start() for the periodic reload. */
export async function openTokenKeyStore(options: TokenKeyStoreOptions): Promise<TokenKeyStore> {
  const store = createTokenKeyStore(options);
  await store.reload();
  return store;
}

export function createTokenKeyStore(options: TokenKeyStoreOptions): TokenKeyStore {
  const { clock, scheduler, logger } = options;
  const fs = options.fs ?? nodeFs;
  const ioScheduler = options.ioScheduler ?? systemScheduler;
  const dir = options.dir === '' ? undefined : options.dir;
  const uid = 'uid' in options ? options.uid : process.getuid?.();
  const warned = new Set<string>();
  // Parsed files by identity (inode, size, mtime): files never change once named, so a reload
  // reads only new ones and warns once per bad file.
  const parsed = new Map<string, FileRead>();
  let memoryKey: Held | undefined;
  let signing: Held | undefined;
  let byId = new Map<string, Held>();
  let timer: Timer | undefined;
  let closed = false;
  let reloading: Promise<void> | undefined;
  let hanging: Promise<void> | undefined;

  const warnOnce = (tag: string, fields: Record<string, unknown>, message: string) => {
    if (warned.has(tag)) return;
    warned.add(tag);
    logger.warn({ dir, ...fields }, message);
  };

  function useMemoryKey(reason: string): void {
    if (memoryKey === undefined) memoryKey = { key: { id: `m${randomBytes(4).toString('hex')}`, secret: randomBytes(SECRET_BYTES) }, acceptUntil: undefined };
    if (dir !== undefined) warnOnce(`memory:${reason}`, { reason }, 'token key directory unusable: signing IMDSv2 tokens with a key held in memory, so they will not survive a restart of this agent');
    install(memoryKey, [...byId.values()].filter((held) => held !== memoryKey));
  }

  function install(next: Held, accepted: Held[]): void {
    const previous = signing;
    signing = next;
    const map = new Map<string, Held>([[next.key.id, next]]);
    for (const held of accepted) if (held !== next) map.set(held.key.id, held);
    // A memory key that no longer signs verifies what it signed until those tokens could have expired.
    if (memoryKey !== undefined && next !== memoryKey && previous === memoryKey) {
      memoryKey = { key: memoryKey.key, acceptUntil: clock.now() + RETAIN_AFTER_RETIREMENT_MS };
    }
    if (memoryKey !== undefined && next !== memoryKey && (memoryKey.acceptUntil ?? Infinity) > clock.now()) map.set(memoryKey.key.id, memoryKey);
    byId = map;
    if (previous?.key.id !== next.key.id) logger.info({ dir, key: next.key.id, source: next === memoryKey ? 'memory' : 'file', accepted: [...map.keys()] }, 'token signing key');
  }

  async function ensureDir(): Promise<string | undefined> {
    const path = dir as string;
    try {
      await fs.mkdir(path, { recursive: true, mode: 0o700 });
      const info = await fs.stat(path);
      if (!info.isDirectory()) return `${path} is not a directory`;
      if (uid !== undefined && info.uid !== uid) warnOnce('dir-owner', { owner: info.uid, uid }, 'token key directory belongs to another user; key files not owned by this agent are ignored');
      if ((info.mode & 0o077) !== 0) {
        try {
          await fs.chmod(path, 0o700);
          warnOnce('dir-mode', { mode: (info.mode & 0o777).toString(8) }, 'token key directory was open to other users; set its mode to 0700');
        } catch (error) {
          warnOnce('dir-mode', { mode: (info.mode & 0o777).toString(8), err: errText(error) }, 'token key directory is open to other users and its mode cannot be changed');
        }
      }
      return undefined;
    } catch (error) {
      return errText(error);
    }
  }

  async function readKeyFile(name: string): Promise<FileRead> {
    let handle: Awaited<ReturnType<KeyFs['open']>>;
    try {
      // O_NOFOLLOW: a symlink planted in the directory is not followed to someone else's file.
      // O_NONBLOCK: a FIFO planted there opens at once (and is refused below) instead of
      // blocking a thread of the pool until a writer comes.
      handle = await fs.open(join(dir as string, name), constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
    } catch (error) {
      return { ok: false, reason: (error as NodeJS.ErrnoException).code === 'ELOOP' ? 'is a symbolic link' : errText(error) };
    }
    try {
      const info = await handle.stat();
      const identity = `${name}:${info.ino}:${info.size}:${info.mtimeMs}:${info.mode}:${info.uid}`;
      const known = parsed.get(identity);
      if (known) return known;
      const result = await checkAndParse(handle, info, String(Number(KEY_FILE.exec(name)?.[1])));
      parsed.set(identity, result);
      return result;
    } catch (error) {
      return { ok: false, reason: errText(error) };
    } finally {
      await handle.close().catch(() => undefined);
    }
  }

  async function checkAndParse(handle: Awaited<ReturnType<KeyFs['open']>>, info: { isFile(): boolean; uid: number; mode: number; size: number; nlink: number }, id: string): Promise<FileRead> {
    if (!info.isFile()) return { ok: false, reason: 'is not a regular file' };
    // Whoever owns the file may have written it, so may know the secret and forge tokens.
    if (uid !== undefined && info.uid !== uid) return { ok: false, reason: `is owned by uid ${info.uid}, not this agent's uid ${uid}` };
    if ((info.mode & 0o077) !== 0) {
      const mode = (info.mode & 0o777).toString(8);
      // A hard link to another file of the agent's uid: not ours to chmod.
      if (info.nlink !== 1) return { ok: false, reason: `is readable by other users (mode ${mode}) and has ${info.nlink} links: not a key file this store made, left as it is` };
      try {
        await handle.chmod(0o600);
        logger.warn({ dir, mode }, 'token key file was readable by other users; set its mode to 0600 (rotate the key if others may have read it)');
      } catch (error) {
        return { ok: false, reason: `is readable by other users (mode ${mode}) and its mode cannot be changed: ${errText(error)}` };
      }
    }
    if (info.size > MAX_KEY_FILE_BYTES) return { ok: false, reason: `is ${info.size} bytes, too large for a key file` };
    const text = await handle.readFile('utf8');
    return parseKeyFile(text, id);
  }

  async function listEntries(): Promise<Entry[]> {
    const names = await fs.readdir(dir as string);
    const entries: Entry[] = [];
    for (const name of names) {
      const match = KEY_FILE.exec(name);
      if (match) entries.push({ gen: Number(match[1]), name, read: await readKeyFile(name) });
      else if (TEMP_FILE.test(name)) await removeStaleTemp(name);
    }
    return entries.sort((a, b) => b.gen - a.gen);
  }

  async function removeStaleTemp(name: string): Promise<void> {
    // A temp file is linked and unlinked within milliseconds; an old one is left by a crash.
    try {
      const info = await fs.stat(join(dir as string, name));
      if (clock.now() - info.mtimeMs > STALE_TEMP_MS) await fs.unlink(join(dir as string, name));
    } catch {
      // gone already, or not ours to remove: harmless
    }
  }

  /** Creates key-<gen> if absent. True when it exists afterwards (ours or a concurrent agent's). */
  async function createGeneration(gen: number): Promise<boolean> {
    const secret = randomBytes(SECRET_BYTES);
    const body = `${JSON.stringify({ v: 1, created: clock.now(), secret: secret.toString('base64url') })}\n`;
    const temp = join(dir as string, `.key-${gen}.${randomBytes(6).toString('hex')}.tmp`);
    try {
      const handle = await fs.open(temp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
      try {
        await handle.writeFile(body);
        await handle.sync();
      } finally {
        await handle.close();
      }
      await fs.link(temp, join(dir as string, `key-${gen}`));
      return true;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EEXIST') return true;
      warnOnce(`create:${errText(error)}`, { err: errText(error) }, 'cannot write a token key file');
      return false;
    } finally {
      await fs.unlink(temp).catch(() => undefined);
    }
  }

  /**
   * Loads the directory and installs its newest usable key, first creating a generation when
   * there is none, the newest is unusable or too old, or (rotation) the newest is <= newerThan.
   */
  async function load(newerThan?: number): Promise<TokenKey | undefined> {
    if (dir === undefined) {
      useMemoryKey('no --token-key-dir');
      return undefined;
    }
    const dirProblem = await ensureDir();
    if (dirProblem !== undefined) return keepOrMemory(dirProblem);
    // Each round either settles on a key or creates one generation; a few rounds cover racing agents.
    for (let round = 0; ; round++) {
      let entries: Entry[];
      try {
        entries = await listEntries();
      } catch (error) {
        return keepOrMemory(errText(error));
      }
      const now = clock.now();
      for (const entry of entries) {
        if (entry.read.ok && entry.read.created > now + MAX_CLOCK_SKEW_MS) {
          entry.read = { ok: false, reason: `was created ${new Date(entry.read.created).toISOString()}, in the future` };
        }
        if (!entry.read.ok) warnOnce(`file:${entry.name}:${entry.read.reason}`, { file: entry.name, reason: entry.read.reason }, 'token key file unusable, skipped (if it was the newest, a new key file is written)');
      }
      const top = entries[0];
      const needNew = top === undefined || !top.read.ok || now - top.read.created >= MAX_KEY_AGE_MS || (newerThan !== undefined && top.gen <= newerThan);
      if (needNew && round < 3) {
        if (await createGeneration((top?.gen ?? 0) + 1)) continue;
        if (newerThan !== undefined) throw new Error(`cannot write a new token key file in ${dir}`);
      }
      const head = entries.find((entry) => entry.read.ok);
      if (head === undefined || !head.read.ok) return keepOrMemory('no usable key file, and none can be written');
      install({ key: head.read.key, acceptUntil: undefined }, await retiredKeys(entries, head, now));
      return head.read.key;
    }
  }

  /** Keys below the head still inside their window; files past it are deleted. */
  async function retiredKeys(entries: Entry[], head: Entry, now: number): Promise<Held[]> {
    const kept: Held[] = [];
    let successorCreated = head.read.ok ? head.read.created : now;
    for (const entry of entries) {
      if (entry.gen >= head.gen) continue;
      const acceptUntil = successorCreated + RETAIN_AFTER_RETIREMENT_MS;
      if (now >= acceptUntil) {
        await fs.unlink(join(dir as string, entry.name)).catch(() => undefined);
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
      return (signing as Held).key;
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

/** A key file's text -> key, or why not (truncated, not JSON, wrong version, bad secret). */
export function parseKeyFile(text: string, id: string): FileRead {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { ok: false, reason: `is not valid JSON (${text.length} bytes; truncated or corrupt)` };
  }
  if (typeof value !== 'object' || value === null) return { ok: false, reason: 'is not a key object' };
  const { v, created, secret } = value as Record<string, unknown>;
  if (v !== 1) return { ok: false, reason: `has unknown version ${JSON.stringify(v)}` };
  if (typeof created !== 'number' || !Number.isSafeInteger(created) || created <= 0) return { ok: false, reason: 'has no valid creation time' };
  if (typeof secret !== 'string' || !/^[A-Za-z0-9_-]{43}$/.test(secret)) return { ok: false, reason: 'has no valid 32-byte secret' };
  return { ok: true, key: { id, secret: Buffer.from(secret, 'base64url') }, created };
}

function errText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
