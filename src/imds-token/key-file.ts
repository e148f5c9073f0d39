import { randomBytes } from 'node:crypto';
import { constants, promises as nodeFs } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from '../log/index.js';
import type { Clock } from '../time/index.js';
import type { TokenKey } from './key-ring.js';

/**
 * The key files in a node's token key directory: their format, and reading and writing them.
 *
 * Layout: one file per key generation, `key-<n>` (n = 1, 2, ...), JSON
 * `{"v":1,"created":<ms>,"secret":"<32 bytes base64url>"}`, mode 0600, in a 0700 directory.
 *
 * Why generations created with link(): a key file is written in full to a temp file, then
 * link()ed to its final name, which fails with EEXIST if that name exists. So no reader ever sees
 * a half-written key, a file never changes once it has its name, and two agents that start at
 * once on one node (a rolling update) or rotate at once create one `key-<n+1>` between them and
 * both use it.
 *
 * A file that cannot be trusted is reported unusable, with why: unreadable, corrupt, truncated,
 * symlinked, foreign-owned, or not regular (a FIFO, a device). Files are opened without blocking.
 * A file is only chmodded when it is a regular file with one link (one of the store's making),
 * never a hard link to some other file of the agent's.
 */

export const SECRET_BYTES = 32;
const MAX_KEY_FILE_BYTES = 1024;
const STALE_TEMP_MS = 3_600_000;
const KEY_FILE = /^key-([1-9]\d{0,8})$/;
const TEMP_FILE = /^\.key-\d+\.[0-9a-f]+\.tmp$/;

/** The parts of node:fs/promises the store uses; tests wrap the real ones to inject failures. */
export type KeyFs = Pick<typeof nodeFs, 'mkdir' | 'stat' | 'chmod' | 'readdir' | 'open' | 'link' | 'unlink'>;

type KeyFileHandle = Awaited<ReturnType<KeyFs['open']>>;
type KeyFileInfo = { isFile(): boolean; uid: number; mode: number; size: number; nlink: number };

type FileRead = { ok: true; key: TokenKey; created: number } | { ok: false; reason: string };

/** One `key-<gen>` file and what reading it gave. */
export interface KeyFileEntry {
  gen: number;
  name: string;
  read: FileRead;
}

interface KeyDirectoryOptions {
  dir: string;
  fs: KeyFs;
  clock: Clock;
  logger: Logger;
  /** The uid key files must belong to; undefined: any. */
  uid: number | undefined;
  /** Logs a warning once per tag (the store's, so each problem is told once however often it is met). */
  warnOnce: (tag: string, fields: Record<string, unknown>, message: string) => void;
}

export interface KeyDirectory {
  /** Creates the directory if needed and tightens its mode; what is wrong with it, or undefined. */
  prepare(): Promise<string | undefined>;
  /** The key files, newest generation first, each read (or why not); stale temp files are removed. Rejects when the directory cannot be listed. */
  list(): Promise<KeyFileEntry[]>;
  /** Creates key-<gen> if absent. True when it exists afterwards (ours or a concurrent agent's). */
  create(gen: number): Promise<boolean>;
  /** Deletes a key file; one already gone is no error. */
  remove(name: string): Promise<void>;
}

export function openKeyDirectory(options: KeyDirectoryOptions): KeyDirectory {
  const { dir, fs, clock, logger, uid, warnOnce } = options;
  // Parsed files by identity (inode, size, mtime): files never change once named, so a reload
  // reads only new ones and warns once per bad file.
  const parsed = new Map<string, FileRead>();

  async function prepare(): Promise<string | undefined> {
    try {
      await fs.mkdir(dir, { recursive: true, mode: 0o700 });
      const info = await fs.stat(dir);
      if (!info.isDirectory()) return `${dir} is not a directory`;
      if (uid !== undefined && info.uid !== uid) {
        warnOnce('dir-owner', { owner: info.uid, uid }, 'token key directory belongs to another user; key files not owned by this agent are ignored');
      }
      if ((info.mode & 0o077) !== 0) {
        try {
          await fs.chmod(dir, 0o700);
          warnOnce('dir-mode', { mode: (info.mode & 0o777).toString(8) }, 'token key directory was open to other users; set its mode to 0700');
        } catch (error) {
          const fields = { mode: (info.mode & 0o777).toString(8), err: errText(error) };
          warnOnce('dir-mode', fields, 'token key directory is open to other users and its mode cannot be changed');
        }
      }
      return undefined;
    } catch (error) {
      return errText(error);
    }
  }

  async function readKeyFile(name: string): Promise<FileRead> {
    let handle: KeyFileHandle;
    try {
      // O_NOFOLLOW: a symlink planted in the directory is not followed to someone else's file.
      // O_NONBLOCK: a FIFO planted there opens at once (and is refused below) instead of
      // blocking a thread of the pool until a writer comes.
      handle = await fs.open(join(dir, name), constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
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

  async function checkAndParse(handle: KeyFileHandle, info: KeyFileInfo, id: string): Promise<FileRead> {
    if (!info.isFile()) return { ok: false, reason: 'is not a regular file' };
    // Whoever owns the file may have written it, so may know the secret and forge tokens.
    if (uid !== undefined && info.uid !== uid) return { ok: false, reason: `is owned by uid ${info.uid}, not this agent's uid ${uid}` };
    if ((info.mode & 0o077) !== 0) {
      const mode = (info.mode & 0o777).toString(8);
      // A hard link to another file of the agent's uid: not ours to chmod.
      if (info.nlink !== 1) {
        return { ok: false, reason: `is readable by other users (mode ${mode}) and has ${info.nlink} links: not a key file this store made, left as it is` };
      }
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

  async function list(): Promise<KeyFileEntry[]> {
    const names = await fs.readdir(dir);
    const entries: KeyFileEntry[] = [];
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
      const info = await fs.stat(join(dir, name));
      if (clock.now() - info.mtimeMs > STALE_TEMP_MS) await fs.unlink(join(dir, name));
    } catch {
      // gone already, or not ours to remove: harmless
    }
  }

  async function create(gen: number): Promise<boolean> {
    const secret = randomBytes(SECRET_BYTES);
    const body = `${JSON.stringify({ v: 1, created: clock.now(), secret: secret.toString('base64url') })}\n`;
    const temp = join(dir, `.key-${gen}.${randomBytes(6).toString('hex')}.tmp`);
    try {
      const handle = await fs.open(temp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
      try {
        await handle.writeFile(body);
        await handle.sync();
      } finally {
        await handle.close();
      }
      await fs.link(temp, join(dir, `key-${gen}`));
      return true;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EEXIST') return true;
      warnOnce(`create:${errText(error)}`, { err: errText(error) }, 'cannot write a token key file');
      return false;
    } finally {
      await fs.unlink(temp).catch(() => undefined);
    }
  }

  return {
    prepare,
    list,
    create,
    remove: (name) => fs.unlink(join(dir, name)).catch(() => undefined),
  };
}

/** A key file's text -> key, or why not (truncated, not JSON, wrong version, bad secret). */
function parseKeyFile(text: string, id: string): FileRead {
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

export function errText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
