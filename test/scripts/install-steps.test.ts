/**
 * A fresh machine has only the toolchains: every command the CI and build scripts call must be
 * installed by a script (scripts/lib/apt.sh's `apt_install_missing <who> <tool>=<package>`) or be
 * a precondition docs/contributors.md names. A step a machine happened to have is how CI goes red on a
 * new one.
 */
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { commandsOf } from '../helpers/shell-commands.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const read = (file: string) => readFileSync(join(ROOT, file), 'utf8');

/** The shell scripts CI and the test suites run on the machine (iptables/ runs inside the image, which installs its tools). */
const SCRIPTS = [
  '.ci/run',
  ...execFileSync('git', ['ls-files', 'scripts', 'test'], { cwd: ROOT, encoding: 'utf8' })
    .split('\n')
    .filter((file) => file.endsWith('.sh')),
];

/** `tool` of every `tool=package` given to apt_install_missing, across the scripts. */
function installedByScripts(texts: readonly string[]): Set<string> {
  const tools = new Set<string>();
  for (const text of texts) {
    for (const call of text.replace(/\\\n/g, ' ').matchAll(/apt_install_missing\s+(.*)/g)) {
      for (const entry of (call[1] as string).matchAll(/(?:^|\s)([\w.+-]+)=[\w.+-]+/g)) tools.add(entry[1] as string);
    }
  }
  return tools;
}

/** The commands in backticks of docs/contributors.md's "Preconditions" paragraph. */
function documentedPreconditions(): Set<string> {
  const page = read('docs/contributors.md');
  const start = page.indexOf('\nPreconditions');
  const paragraph = page.slice(start, page.indexOf('\n\n', start + 1));
  return new Set([...paragraph.matchAll(/`([\w.+-]+)`/g)].map((m) => m[1] as string));
}

/** Functions a script defines, or a library it sources does. */
function definedFunctions(texts: readonly string[]): Set<string> {
  return new Set(texts.flatMap((text) => [...text.matchAll(/^\s*(?:function\s+)?([\w.:-]+)\s*\(\)/gm)].map((m) => m[1] as string)));
}

/** What `scripts` call that nothing installs and docs/contributors.md does not name. */
function uninstalled(scripts: ReadonlyMap<string, string>, preconditions: ReadonlySet<string>): Map<string, string[]> {
  const texts = [...scripts.values()];
  const known = new Set([...installedByScripts(texts), ...preconditions, ...definedFunctions(texts)]);
  const missing = new Map<string, string[]>();
  for (const [file, text] of scripts) {
    for (const command of commandsOf(text)) if (!known.has(command)) missing.set(command, [...(missing.get(command) ?? []), file]);
  }
  return missing;
}

t.test('every command the CI and build scripts call is installed by a script or named as a precondition in docs/contributors.md', async (t) => {
  const scripts = new Map(SCRIPTS.map((file) => [file, read(file)]));
  t.ok(scripts.size >= 15, `${scripts.size} scripts read`);
  const missing = uninstalled(scripts, documentedPreconditions());
  t.same(Object.fromEntries(missing), {}, 'no command is left to a machine that happens to have it');
});

t.test('the check finds a command nothing installs, wherever the script calls it', async (t) => {
  const script = [
    'set -euo pipefail',
    'apt_install_missing() { :; }',
    'helper() { grep -q x file; }',
    'out=$(buildah images | head -1)',
    'if ! skopeo inspect x >/dev/null 2>&1; then echo "$(umoci --version)"; fi',
    'FOO=1 timeout 5s crun --version',
    'case $1 in /*) ip link ;; *) "${sudo[@]}" ebtables -L ;; esac',
    'for ((i = 0; i < 3; i++)); do sleep 0.1; done',
    'node - <<\'EOF\'',
    'notacommand --in-a-heredoc',
    'EOF',
    'apt_install_missing me ip=iproute2',
  ].join('\n');
  const missing = uninstalled(new Map([['fake.sh', script]]), new Set(['grep', 'head', 'sleep', 'node']));
  t.same([...missing.keys()].sort(), ['buildah', 'crun', 'ebtables', 'skopeo', 'timeout', 'umoci']);
});

t.test('a script that builds images with buildah installs the OCI runtime buildah runs', async (t) => {
  for (const file of SCRIPTS) {
    const text = read(file);
    if (!commandsOf(text).has('buildah')) continue;
    const installs = installedByScripts([text]);
    t.ok(installs.has('buildah') && (installs.has('runc') || installs.has('crun')), `${file} installs buildah and runc (or crun)`);
  }
});

t.test('the commands tests and benchmarks spawn by name are installed by a script or preconditions', async (t) => {
  const files = execFileSync('git', ['ls-files', 'test', 'bench'], { cwd: ROOT, encoding: 'utf8' }).split('\n').filter((f) => f.endsWith('.ts'));
  const spawned = new Set<string>();
  for (const file of files) {
    for (const m of read(file).matchAll(/\b(?:spawn|spawnSync|execFile|execFileSync)\(\s*'([\w.+-]+)'/g)) spawned.add(m[1] as string);
  }
  t.ok(spawned.has('ip'), 'ip is spawned by the netns helpers');
  const known = new Set([...installedByScripts(SCRIPTS.map(read)), ...documentedPreconditions()]);
  t.same([...spawned].filter((command) => !known.has(command)), []);
});
