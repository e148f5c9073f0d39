/**
 * scripts/install-actionlint.sh and scripts/lint-workflows.sh: the workflows pass actionlint with
 * shellcheck (.ci/run runs the same script as its own step), and the check is not one that passes
 * whatever the workflow says: a broken copy of the release workflow fails it.
 */
import t, { type Test } from 'tap';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
/** A first build downloads actionlint's modules and compiles: seconds, a minute on a cold cache. */
const BUILD_TIMEOUT_MS = 10 * 60_000;

const scratch = (t: Test, prefix: string) => {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
};

t.test('without Go and without a cached build, install-actionlint.sh exits 3 and says why', async (t) => {
  const withoutGo = (process.env.PATH ?? '').split(delimiter).filter((dir) => dir !== '' && !existsSync(join(dir, 'go'))).join(delimiter);
  const result = spawnSync('bash', [join(ROOT, 'scripts/install-actionlint.sh')], {
    encoding: 'utf8',
    env: { PATH: withoutGo, HOME: process.env.HOME, CORRIDOR_CACHE: scratch(t, 'corridor-cache-') },
  });
  t.equal(result.status, 3);
  t.equal(result.stdout, '', 'no path is printed');
  t.match(result.stderr, /install-actionlint: go is not installed; cannot build actionlint v\d+\.\d+\.\d+/);
});

t.test('the workflows pass actionlint with shellcheck', async (t) => {
  t.setTimeout(BUILD_TIMEOUT_MS);
  const lint = spawnSync('bash', [join(ROOT, 'scripts/lint-workflows.sh')], { cwd: ROOT, encoding: 'utf8', timeout: BUILD_TIMEOUT_MS });
  if (lint.status === 3) {
    t.plan(0, `actionlint or shellcheck cannot be had here: ${lint.stderr.trim().split('\n').slice(-2).join(' | ')}`);
    return;
  }
  t.equal(lint.status, 0, `${lint.stdout}${lint.stderr}`);
  t.match(lint.stderr, /lint-workflows: v\d+\.\d+\.\d+ with shellcheck \d+\.\d+/, 'shellcheck checked the run: blocks');
  t.equal(lint.stdout, '', 'no findings');

  // The same lint finds what a broken release workflow gets wrong: an output written unquoted
  // (shellcheck) and a step output read from a step that does not exist (actionlint).
  const actionlint = spawnSync('bash', [join(ROOT, 'scripts/install-actionlint.sh')], { encoding: 'utf8' }).stdout.trim();
  const repo = scratch(t, 'corridor-actionlint-');
  mkdirSync(join(repo, '.github/workflows'), { recursive: true });
  const broken = readFileSync(join(ROOT, '.github/workflows/release.yml'), 'utf8')
    .replace('} >>"$GITHUB_OUTPUT"', '} >>$GITHUB_OUTPUT')
    .replace('steps.image.outputs.digest }}', 'steps.images.outputs.digest }}');
  writeFileSync(join(repo, '.github/workflows/release.yml'), broken);
  t.equal(spawnSync('git', ['init', '-q'], { cwd: repo }).status, 0);
  const shellcheck = spawnSync('bash', ['-c', 'command -v shellcheck'], { encoding: 'utf8' }).stdout.trim();
  const found = spawnSync(actionlint, ['-no-color', '-oneline', `-shellcheck=${shellcheck}`], { cwd: repo, encoding: 'utf8' });
  t.equal(found.status, 1, found.stderr);
  t.match(found.stdout, /SC2086/, 'shellcheck finds the unquoted $GITHUB_OUTPUT');
  t.match(found.stdout, /property "images" is not defined/, 'actionlint finds the missing step');
});
