import t from 'tap';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ENTRY = fileURLToPath(new URL('../../src/cli/corridor.ts', import.meta.url));

function corridor(args: string[], env: Record<string, string> = {}) {
  const run = spawnSync(process.execPath, [...process.execArgv, ENTRY, ...args], { encoding: 'utf8', env: { PATH: process.env.PATH, TS_NODE_TRANSPILE_ONLY: '1', ...env }, timeout: 60_000 });
  return { code: run.status, stdout: run.stdout, stderr: run.stderr };
}

t.test('`corridor token-key rotate` writes the next key generation and keeps the previous one; status shows them', async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'corridor-token-key-'));
  t.teardown(() => rmSync(root, { recursive: true, force: true }));
  const dir = join(root, 'keys');
  const first = corridor(['token-key', 'rotate'], { CORRIDOR_TOKEN_KEY_DIR: dir });
  t.equal(first.code, 0, first.stderr);
  t.match(first.stdout, /key-2 signs/, 'an empty directory gets key-1 (as an agent would), then the rotation writes key-2');
  t.match(first.stdout, /signing: key-2; also accepted: key-1/);
  t.same(readdirSync(dir).sort(), ['key-1', 'key-2']);

  const status = corridor(['token-key', 'status', '--token-key-dir', dir]);
  t.equal(status.code, 0, status.stderr);
  t.equal(status.stdout, 'signing: key-2; also accepted: key-1\n');

  writeFileSync(join(dir, 'key-3'), 'garbage');
  const corrupt = corridor(['token-key', 'status', '--token-key-dir', dir]);
  t.equal(corrupt.code, 0);
  t.match(corrupt.stderr, /token key file unusable/, 'the warning goes to stderr');
  t.match(corrupt.stdout, /signing: key-4/);
});

t.test('`corridor token-key` without an action or directory explains itself and exits 2', async (t) => {
  t.equal(corridor(['token-key']).code, 2);
  t.equal(corridor(['token-key', 'rotate', '--token-key-dir', '']).code, 2);
  t.match(corridor(['token-key', 'rotate', '--token-key-dir', '']).stderr, /names no directory/);
  t.match(corridor(['token-key', 'rotate'], { CORRIDOR_TOKEN_KEY_DIR: '' }).stderr, /names no directory/, 'an empty CORRIDOR_TOKEN_KEY_DIR, as for the agent');
});

t.test('`corridor token-key prepare` makes the key directory the agent\'s, 0700 (the init container, without a shell)', async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'corridor-token-key-'));
  t.teardown(() => rmSync(root, { recursive: true, force: true }));
  const dir = join(root, 'keys');
  mkdirSync(dir, { mode: 0o755 });
  const owner = process.getuid?.() === 0 ? '65532:65533' : `${process.getuid?.()}:${process.getgid?.()}`;
  const prepared = corridor(['token-key', 'prepare', '--owner', owner], { CORRIDOR_TOKEN_KEY_DIR: dir });
  t.equal(prepared.code, 0, prepared.stderr);
  t.match(prepared.stdout, `owner ${owner}, mode 0700`);
  const stat = statSync(dir);
  t.equal(`${stat.uid}:${stat.gid}`, owner, 'owned by the agent (as root: another uid and gid)');
  t.equal(stat.mode & 0o777, 0o700);
  t.equal(corridor(['token-key', 'prepare', '--owner', owner, '--token-key-dir', join(root, 'new')]).code, 0, 'a missing directory is created');
  t.equal(statSync(join(root, 'new')).mode & 0o777, 0o700);

  const bad = corridor(['token-key', 'prepare', '--owner', 'nonroot', '--token-key-dir', dir]);
  t.equal(bad.code, 2);
  t.match(bad.stderr, /--owner: "nonroot" is not uid:gid/);
  t.match(corridor(['token-key', 'prepare', '--token-key-dir', dir]).stderr, /prepare needs --owner uid:gid/);
});
