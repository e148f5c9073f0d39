import t, { type Test } from 'tap';
import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, linkSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { constants, promises as realFs } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MAX_TOKEN_TTL_SECONDS } from '../../src/imds-protocol/index.js';
import {
  createTokenIssuer,
  MAX_CLOCK_SKEW_MS,
  MAX_KEY_AGE_MS,
  openTokenKeyStore,
  RELOAD_DEADLINE_MS,
  RELOAD_EVERY_MS,
  RETIRED_KEY_GRACE_MS,
  type KeyFs,
  type TokenKeyStore,
} from '../../src/imds-token/index.js';
import { createLogger } from '../../src/log/index.js';
import { within } from '../helpers/fake-kube-api.js';
import { FakeTime, settle } from '../helpers/fake-time.js';
import { sink } from '../helpers/log-sink.js';

const MAX_TTL_MS = MAX_TOKEN_TTL_SECONDS * 1000;

interface Node {
  dir: string;
  // Near the real time: the store compares temp files' mtimes (real) with the clock.
  time: FakeTime;
  logs: Array<Record<string, unknown>>;
  open(options?: { fs?: KeyFs; dir?: string; uid?: number; ioScheduler?: FakeTime }): Promise<TokenKeyStore>;
  waitForLog(match: (line: Record<string, unknown>) => boolean): Promise<void>;
}

function node(t: Test): Node {
  const root = mkdtempSync(join(tmpdir(), 'corridor-keys-'));
  // A reload in flight when the test ends may still write a key file (closing a store stops its
  // timer, not I/O already started): retry the removal as Node does for ENOTEMPTY.
  t.teardown(() => rmSync(root, { recursive: true, force: true, maxRetries: 10, retryDelay: 20 }));
  const logs = sink();
  const logger = createLogger('debug', logs);
  const time = new FakeTime(Date.now());
  const dir = join(root, 'var', 'lib', 'corridor');
  return {
    dir,
    time,
    logs: logs.lines,
    // Only lines still to come: a line another store logged earlier must not count.
    waitForLog: (match) => {
      const from = logs.lines.length;
      return logs.waitFor((line) => logs.lines.indexOf(line) >= from && match(line)).then(() => undefined);
    },
    async open(options = {}) {
      const store = await openTokenKeyStore({
        dir: options.dir ?? dir,
        clock: time,
        scheduler: time,
        logger,
        ...(options.fs ? { fs: options.fs } : {}),
        ...(options.ioScheduler ? { ioScheduler: options.ioScheduler } : {}),
        ...('uid' in options ? { uid: options.uid } : {}),
      });
      t.teardown(() => store.close());
      return store;
    },
  };
}

const warnings = (logs: Array<Record<string, unknown>>) => logs.filter((line) => line.level === 'warn');
const mode = (path: string) => statSync(path).mode & 0o777;
const keyFiles = (dir: string) => readdirSync(dir).sort();

t.test('the first start creates the directory 0700 and key-1 0600; a restart signs with the same key, so tokens survive it', async (t) => {
  const n = node(t);
  const first = await n.open();
  t.equal(mode(n.dir), 0o700);
  t.same(keyFiles(n.dir), ['key-1'], 'one key file, no temp file left');
  t.equal(mode(join(n.dir, 'key-1')), 0o600);
  t.equal(first.source(), 'file');
  const token = createTokenIssuer(n.time, first).mint('10.0.0.7', 21_600);
  t.match(token, /^c2\.1\.[0-9a-z]+\.[\w-]{43}$/);
  first.close();

  const restarted = await n.open();
  const issuer = createTokenIssuer(n.time, restarted);
  t.ok(issuer.verify(token, '10.0.0.7'), 'the token of the previous process is accepted');
  t.notOk(issuer.verify(token, '10.0.0.8'), 'still bound to the IP it was minted for');
  await n.time.advance(MAX_TTL_MS);
  t.notOk(issuer.verify(token, '10.0.0.7'), 'and to its expiry');
  t.same(warnings(n.logs), []);
});

t.test('malformed tokens, unknown key ids and overlong tokens are refused', async (t) => {
  const n = node(t);
  const issuer = createTokenIssuer(n.time, await n.open());
  const token = issuer.mint('10.0.0.7', 600);
  const [, , expiry, mac] = token.split('.');
  for (const bad of ['', 'c2', `c2.1.${expiry}`, `c2.9.${expiry}.${mac}`, `c2.M.${expiry}.${mac}`, `c1.${expiry}.${mac}`, `${token}.x`, `c2.1.${expiry}.${mac}${'A'.repeat(80)}`, token.replace(/.$/, (c) => (c === 'A' ? 'B' : 'A'))]) {
    t.notOk(issuer.verify(bad, '10.0.0.7'), JSON.stringify(bad.slice(0, 40)));
  }
  t.ok(issuer.verify(token, '10.0.0.7'));
});

t.test('two agents starting at once on one node create one key between them and accept each other\'s tokens', async (t) => {
  const n = node(t);
  for (let round = 0; round < 5; round++) {
    rmSync(n.dir, { recursive: true, force: true });
    const [a, b] = await Promise.all([n.open(), n.open()]);
    t.same(keyFiles(n.dir), ['key-1'], `round ${round}: one key file`);
    t.equal(a.signingKey().secret.toString('hex'), b.signingKey().secret.toString('hex'), `round ${round}: the same key`);
    t.ok(createTokenIssuer(n.time, b).verify(createTokenIssuer(n.time, a).mint('10.0.0.7', 60), '10.0.0.7'));
  }
});

t.test('a corrupt, truncated or empty newest key file is a warning, not a crash: a new generation signs', async (t) => {
  for (const [what, text] of [['corrupt', 'not json at all'], ['truncated', '{"v":1,"created":17000000'], ['empty', ''], ['short secret', '{"v":1,"created":1,"secret":"abc"}']] as const) {
    const n = node(t);
    mkdirSync(n.dir, { recursive: true, mode: 0o700 });
    writeFileSync(join(n.dir, 'key-1'), text, { mode: 0o600 });
    const store = await n.open();
    const [warning] = warnings(n.logs);
    t.match(warning, { file: 'key-1', msg: /token key file unusable/ }, `${what}: one clear warning naming the file`);
    t.equal(warnings(n.logs).length, 1, `${what}: once`);
    t.same(keyFiles(n.dir), ['key-1', 'key-2'], `${what}: a new key file`);
    t.equal(store.signingKey().id, '2');
    const issuer = createTokenIssuer(n.time, store);
    t.ok(issuer.verify(issuer.mint('10.0.0.7', 60), '10.0.0.7'), `${what}: tokens work`);
    await store.reload();
    t.equal(warnings(n.logs).length, 1, `${what}: a reload does not warn again`);
  }
});

t.test('a key file readable by other users is fixed to 0600 with a warning; the key is kept', async (t) => {
  const n = node(t);
  const first = await n.open();
  const token = createTokenIssuer(n.time, first).mint('10.0.0.7', 600);
  chmodSync(join(n.dir, 'key-1'), 0o644);
  chmodSync(n.dir, 0o755);
  const store = await n.open();
  t.equal(mode(join(n.dir, 'key-1')), 0o600);
  t.equal(mode(n.dir), 0o700);
  t.match(warnings(n.logs).map((line) => line.msg), [/directory was open to other users/, /readable by other users; set its mode to 0600/]);
  t.ok(createTokenIssuer(n.time, store).verify(token, '10.0.0.7'));
});

t.test('a key file owned by another user or a symlink is not trusted: warning, new key', async (t) => {
  const n = node(t);
  await n.open();
  const token = createTokenIssuer(n.time, await n.open()).mint('10.0.0.7', 600);
  if (process.getuid?.() === 0) chownSync(join(n.dir, 'key-1'), 4242, 4242);
  // Not root: pretend this process is another uid, so the files we own look foreign.
  const store = await n.open(process.getuid?.() === 0 ? {} : { uid: 4242 });
  t.match(warnings(n.logs)[0], { file: 'key-1', reason: /owned by uid/ });
  if (process.getuid?.() === 0) {
    t.equal(store.signingKey().id, '2', 'a new generation');
    t.notOk(createTokenIssuer(n.time, store).verify(token, '10.0.0.7'), 'tokens of a key someone else could have written are refused');
  }

  const m = node(t);
  mkdirSync(m.dir, { recursive: true, mode: 0o700 });
  const elsewhere = join(m.dir, '..', 'elsewhere');
  writeFileSync(elsewhere, `${JSON.stringify({ v: 1, created: Date.now(), secret: Buffer.alloc(32).toString('base64url') })}\n`, { mode: 0o600 });
  symlinkSync(elsewhere, join(m.dir, 'key-1'));
  const linked = await m.open();
  t.match(warnings(m.logs)[0], { file: 'key-1', reason: 'is a symbolic link' });
  t.equal(linked.signingKey().id, '2');
  t.ok(lstatSync(join(m.dir, 'key-1')).isSymbolicLink(), 'the link is left for an admin to look at');
});

t.test('a read-only file system or an unusable directory: a warning and a memory key, and tokens still work', async (t) => {
  const n = node(t);
  const erofs = (): never => {
    throw Object.assign(new Error('EROFS: read-only file system'), { code: 'EROFS' });
  };
  const readOnly: KeyFs = {
    ...realFs,
    mkdir: (async (path: string) => (existsSync(path) ? undefined : erofs())) as KeyFs['mkdir'],
    open: (async (path: string, flags: number, m?: number) => ((flags & constants.O_CREAT) !== 0 ? erofs() : realFs.open(path, flags, m))) as KeyFs['open'],
    link: erofs,
    chmod: erofs,
  };
  const missing = await n.open({ fs: readOnly });
  t.equal(missing.source(), 'memory');
  t.match(warnings(n.logs)[0], { msg: /signing IMDSv2 tokens with a key held in memory/, reason: /EROFS/ });
  const issuer = createTokenIssuer(n.time, missing);
  t.ok(issuer.verify(issuer.mint('10.0.0.7', 60), '10.0.0.7'));

  mkdirSync(n.dir, { recursive: true, mode: 0o700 });
  const existingDir = await n.open({ fs: readOnly });
  t.equal(existingDir.source(), 'memory', 'an existing empty directory that cannot be written: memory key');
  t.match(warnings(n.logs).map((line) => line.msg), [/memory/, /cannot write a token key file/, /memory/]);

  // A key written earlier is still used when nothing can be written now.
  const writable = await n.open();
  const token = createTokenIssuer(n.time, writable).mint('10.0.0.7', 60);
  const readOnlyWithKey = await n.open({ fs: readOnly });
  t.equal(readOnlyWithKey.source(), 'file');
  t.ok(createTokenIssuer(n.time, readOnlyWithKey).verify(token, '10.0.0.7'));

  const blocked = node(t);
  mkdirSync(join(blocked.dir, '..'), { recursive: true });
  writeFileSync(blocked.dir, 'a file where the directory should be');
  const notADir = await blocked.open();
  t.equal(notADir.source(), 'memory');
  t.match(warnings(blocked.logs)[0], { reason: /not a directory|EEXIST|ENOTDIR/ });
});

t.test('rotation: the new key signs, tokens of the old one stay valid until they could have expired, then the old file is deleted', async (t) => {
  const n = node(t);
  const store = await n.open();
  store.start();
  const issuer = createTokenIssuer(n.time, store);
  await n.time.advance(60_000);
  const old = issuer.mint('10.0.0.7', 21_600);
  const rotatedAt = n.time.now();
  const key = await store.rotate();
  t.equal(key.id, '2');
  t.same(keyFiles(n.dir), ['key-1', 'key-2']);
  t.match(issuer.mint('10.0.0.7', 60), /^c2\.2\./, 'new tokens use the new key');
  t.same(store.keyIds(), ['2', '1']);

  await n.time.advance(MAX_TTL_MS - 1);
  t.ok(issuer.verify(old, '10.0.0.7'), 'valid for its whole TTL after the rotation');

  // Another agent's token signed with key 1 just before it noticed the rotation (at its reload).
  const restarted = await n.open();
  t.same(restarted.keyIds(), ['2', '1'], 'a restart keeps accepting the retired key');

  await n.time.advance(rotatedAt + MAX_TTL_MS + RETIRED_KEY_GRACE_MS - n.time.now());
  await store.reload();
  t.same(keyFiles(n.dir), ['key-2'], 'the retired key file is deleted once no token signed with it can be valid');
  t.same(store.keyIds(), ['2']);
  const forged = `c2.1.${(n.time.now() + 60_000).toString(36)}.${old.split('.')[3]}`;
  t.notOk(issuer.verify(forged, '10.0.0.7'), 'key 1 verifies nothing any more');
  t.match(n.logs.find((line) => /deleted a retired token key/.test(String(line.msg))), { file: 'key-1' });
});

t.test('a rotation by another agent (or `corridor token-key rotate`) reaches a running agent at its next reload', async (t) => {
  const n = node(t);
  const running = await n.open();
  running.start();
  const issuer = createTokenIssuer(n.time, running);
  const admin = await n.open();
  await admin.rotate();
  t.equal(running.signingKey().id, '1', 'until the reload');
  const late = issuer.mint('10.0.0.7', 21_600);
  // The reload timer fires; its file reads are real I/O, so wait for the line it logs.
  const switched = n.waitForLog((line) => line.msg === 'token signing key' && line.key === '2');
  await n.time.advance(RELOAD_EVERY_MS);
  await switched;
  t.equal(running.signingKey().id, '2');
  await n.time.advance(MAX_TTL_MS - RELOAD_EVERY_MS - 1);
  t.ok(issuer.verify(late, '10.0.0.7'), 'a token signed with the old key just before the switch lives its whole TTL');
});

t.test('a key older than the maximum age is replaced at the next reload; deleting the key files revokes every token', async (t) => {
  const n = node(t);
  const store = await n.open();
  store.start();
  const issuer = createTokenIssuer(n.time, store);
  await n.time.advance(MAX_KEY_AGE_MS);
  await store.reload();
  t.equal(store.signingKey().id, '2', 'rotated by age');
  const token = issuer.mint('10.0.0.7', 21_600);

  for (const name of keyFiles(n.dir)) unlinkSync(join(n.dir, name));
  await store.reload();
  t.notOk(issuer.verify(token, '10.0.0.7'), 'revoked');
  t.same(keyFiles(n.dir), ['key-1'], 'a fresh key');
  t.ok(issuer.verify(issuer.mint('10.0.0.7', 60), '10.0.0.7'));
  t.same(warnings(n.logs), []);
});

t.test('without a key directory the key lives in memory, quietly; the file format is what docs/token-keys.md says', async (t) => {
  const n = node(t);
  const store = await n.open({ dir: '' });
  t.equal(store.source(), 'memory');
  t.same(warnings(n.logs), []);
  t.notOk(existsSync(n.dir));
  await t.rejects(store.rotate(), /no token key directory/);

  const onDisk = await n.open();
  const file = JSON.parse(readFileSync(join(n.dir, 'key-1'), 'utf8'));
  t.same(Object.keys(file), ['v', 'created', 'secret']);
  t.equal(file.v, 1);
  t.equal(file.created, n.time.now());
  t.equal(Buffer.from(file.secret, 'base64url').toString('hex'), onDisk.signingKey().secret.toString('hex'));
});

// What someone with the agent's uid (or root) on the node could plant in the key directory.

t.test('a FIFO named key-N blocks neither start-up nor a reload: it is skipped with a warning, and deleting a key still revokes it', async (t) => {
  const n = node(t);
  await n.open();
  execFileSync('mkfifo', [join(n.dir, 'key-2')]);
  const store = await within(n.open(), 5000, 'start-up with a FIFO in the key directory');
  store.start();
  t.equal(store.signingKey().id, '3', 'a new generation signs');
  t.match(warnings(n.logs), [{ file: 'key-2', reason: 'is not a regular file' }]);
  const issuer = createTokenIssuer(n.time, store);
  const token = issuer.mint('10.0.0.7', 21_600);
  unlinkSync(join(n.dir, 'key-3'));
  unlinkSync(join(n.dir, 'key-1'));
  await within(store.reload(), 5000, 'a reload with the FIFO still there');
  t.notOk(issuer.verify(token, '10.0.0.7'), 'the deleted key is revoked at the reload');
  t.ok(issuer.verify(issuer.mint('10.0.0.7', 60), '10.0.0.7'), 'a new key signs');
});

t.test('a key file created in the future beyond clock skew never signs, and keeps no predecessor valid', async (t) => {
  const n = node(t);
  const store = await n.open();
  const issuer = createTokenIssuer(n.time, store);
  const created = n.time.now() + 365 * 24 * 3_600_000;
  writeFileSync(join(n.dir, 'key-2'), `${JSON.stringify({ v: 1, created, secret: Buffer.alloc(32, 7).toString('base64url') })}\n`, { mode: 0o600 });
  await store.reload();
  t.equal(store.signingKey().id, '3', 'a new generation signs instead');
  t.notOk(store.keyIds().includes('2'), 'the future-dated key verifies nothing');
  t.match(warnings(n.logs), [{ file: 'key-2', reason: /in the future/ }]);
  const old = issuer.mint('10.0.0.7', 60);
  t.match(old, /^c2\.3\./);
  await n.time.advance(MAX_TTL_MS + RETIRED_KEY_GRACE_MS);
  await store.reload();
  t.same(store.keyIds(), ['3'], 'key 1 ages out as behind any rotation');
  t.notOk(existsSync(join(n.dir, 'key-1')));
  writeFileSync(join(n.dir, 'key-4'), `${JSON.stringify({ v: 1, created: n.time.now() + MAX_CLOCK_SKEW_MS - 1000, secret: Buffer.alloc(32, 9).toString('base64url') })}\n`, { mode: 0o600 });
  await store.reload();
  t.equal(store.signingKey().id, '4', 'a key within the clock skew is used (another node\'s clock a little ahead)');
});

t.test('a hard link in the key directory to another file of the agent\'s is never chmodded', async (t) => {
  const n = node(t);
  const store = await n.open();
  const other = join(n.dir, '..', 'agent-notes');
  writeFileSync(other, 'not a key\n');
  chmodSync(other, 0o644);
  linkSync(other, join(n.dir, 'key-2'));
  await store.reload();
  t.equal(mode(other), 0o644, 'the other file keeps its mode');
  t.match(warnings(n.logs), [{ file: 'key-2', reason: /mode 644\) and has 2 links: not a key file this store made/ }]);
  t.equal(store.signingKey().id, '3');
});

t.test('a reload that hangs is given up after its deadline: start-up returns, the keys held stay, no second reload piles up', async (t) => {
  const n = node(t);
  const io = new FakeTime();
  let hang = false;
  let readdirCalls = 0;
  let release: () => void = () => {};
  let reached: () => void = () => {};
  const hangs = new Promise<void>((resolve) => (reached = resolve));
  const fs: KeyFs = {
    ...realFs,
    readdir: (async (...args: Parameters<typeof realFs.readdir>) => {
      readdirCalls++;
      if (hang) {
        reached();
        await new Promise<void>((resolve) => (release = resolve));
      }
      return realFs.readdir(...args);
    }) as KeyFs['readdir'],
  };
  hang = true;
  const starting = n.open({ fs, ioScheduler: io });
  await within(hangs, 5000, 'the directory read to hang');
  await io.advance(RELOAD_DEADLINE_MS - 1);
  t.equal(await Promise.race([starting.then(() => 'started'), settle().then(() => 'waiting')]), 'waiting', 'start-up waits until the deadline');
  await io.advance(1);
  const store = await within(starting, 5000, 'start-up past the deadline');
  t.equal(store.source(), 'memory', 'start-up went on with a memory key');
  t.match(warnings(n.logs), [{ reason: /took longer than 10 s/ }]);
  const memoryKey = store.signingKey().id;

  await within(store.reload(), 5000, 'a reload while the first still hangs');
  t.equal(readdirCalls, 1, `no second read of the directory while the first hangs (${readdirCalls})`);
  t.equal(store.signingKey().id, memoryKey);

  hang = false;
  const loaded = n.waitForLog((line) => line.msg === 'token signing key' && line.source === 'file');
  release();
  await within(loaded, 5000, 'the hung read to finish');
  t.equal(store.source(), 'file', 'once the file system answers, the hung load finishes and the directory\'s key signs');
  t.equal(store.signingKey().id, '1');
  await settle();
  const before = readdirCalls;
  await store.reload();
  t.equal(readdirCalls, before + 1, 'and reloads read the directory again');
});

t.test('a token verified before a periodic reload of the key directory is still accepted after it, for its whole TTL', async (t) => {
  const n = node(t);
  const store = await n.open();
  const issuer = createTokenIssuer(n.time, store);
  const token = issuer.mint('10.0.0.7', 21_600);
  t.ok(issuer.verify(token, '10.0.0.7'), 'accepted when minted');
  for (let reload = 1; reload <= 3; reload++) {
    await store.reload();
    t.ok(issuer.verify(token, '10.0.0.7'), `accepted after reload ${reload} (the key file read again)`);
  }
  t.notOk(issuer.verify(token, '10.0.0.8'), 'still bound to its IP');
});
