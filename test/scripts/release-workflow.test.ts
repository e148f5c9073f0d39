/**
 * The release workflow (.github/workflows/release.yml) cannot run here: actionlint checks that it
 * is a valid workflow (scripts/lint-workflows.sh, test/scripts/lint-workflows.slow.test.ts), and
 * this file checks what it publishes and from what. Its version check is run for real, as bash.
 */
import t, { type Test } from 'tap';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const WORKFLOW = '.github/workflows/release.yml';
const read = (file: string) => readFileSync(join(ROOT, file), 'utf8');

interface Step { name?: string; id?: string; uses?: string; run?: string; with?: Record<string, unknown>; env?: Record<string, string> }
interface Job { permissions?: Record<string, string>; steps: Step[] }
interface Workflow { on: unknown; permissions?: Record<string, string>; jobs: Record<string, Job> }

const text = read(WORKFLOW);
const workflow = parse(text) as Workflow;
const steps = Object.values(workflow.jobs).flatMap((job) => job.steps);
const runs = steps.flatMap((step) => (step.run === undefined ? [] : [step.run]));
const stepUsing = (action: string) => {
  const found = steps.filter((step) => step.uses?.startsWith(`${action}@`));
  if (found.length !== 1) throw new Error(`expected one step using ${action}, found ${found.length}`);
  return found[0] as Step;
};
const stepWithId = (id: string) => {
  const found = steps.find((step) => step.id === id);
  if (found === undefined) throw new Error(`no step with id ${id}`);
  return found;
};

t.test('the workflow runs on a pushed version tag and on nothing else', async (t) => {
  t.same(workflow.on, { push: { tags: ['v*.*.*'] } });
});

t.test('it builds exactly linux/amd64 and linux/arm64, in one pushed image with SBOM and provenance attestations', async (t) => {
  const build = stepUsing('docker/build-push-action').with ?? {};
  t.same(String(build.platforms).split(',').map((p) => p.trim()).sort(), ['linux/amd64', 'linux/arm64']);
  t.equal(build.file, 'Dockerfile');
  t.equal(build.push, true);
  t.equal(build.sbom, true);
  t.match(String(build.provenance), /^(true|mode=(min|max))$/);
  t.equal(build.tags, '${{ steps.release.outputs.image }}:${{ steps.release.outputs.version }}', 'one tag: the version');
  t.match(String(build['build-args']), /^VERSION=\$\{\{ steps\.release\.outputs\.version \}\}$/m, "the image's version label is the tag's");
  t.equal(steps.filter((step) => step.uses?.startsWith('docker/setup-buildx-action@')).length, 1, 'buildx is set up');
});

t.test('it uses no emulation: no QEMU or binfmt step, and the Dockerfile needs none', async (t) => {
  for (const step of steps) {
    t.notMatch(step.uses ?? '', /qemu|binfmt/i, `${step.name ?? step.uses ?? '?'} uses no emulation action`);
  }
  for (const run of runs) t.notMatch(run, /qemu|binfmt/i);
  t.notOk(stepUsing('docker/setup-buildx-action').with?.platforms, 'buildx is not given emulated platforms');
  // Why none is needed: every stage but the last runs on the build machine, and the last only copies.
  const stages = read('Dockerfile').split(/^FROM /m).slice(1);
  t.ok(stages.length >= 2);
  for (const stage of stages.slice(0, -1)) t.match(stage, /^--platform=\$BUILDPLATFORM /, 'a build stage runs on $BUILDPLATFORM');
  t.notMatch(stages.at(-1) ?? '', /^RUN /m, 'the last stage has no RUN');
});

t.test('every action is pinned by a full commit, with its release in a comment', async (t) => {
  const uses = [...text.matchAll(/^\s*(?:-\s+)?uses:\s*(.*)$/gm)].map((m) => m[1] as string);
  t.equal(uses.length, steps.filter((step) => step.uses !== undefined).length);
  for (const line of uses) t.match(line, /^[\w.-]+\/[\w.-]+@[0-9a-f]{40} # v\d+\.\d+\.\d+$/, line);
});

t.test('it asks for no permission but writing the release and the packages', async (t) => {
  t.same(workflow.permissions, {});
  for (const job of Object.values(workflow.jobs)) t.same(job.permissions, { contents: 'write', packages: 'write' });
});

t.test('the chart is packaged with the version from the tag and pushed to GHCR as an OCI artifact', async (t) => {
  const chart = runs.join('\n');
  t.match(chart, /helm" package helm\/corridor --version "\$VERSION" --app-version "\$VERSION"/);
  t.match(chart, /helm" push "dist\/release\/corridor-\$VERSION\.tgz" "\$CHARTS"/);
  t.match(chart, /gh release (create|upload) "\$TAG" dist\/release\/\*/, 'the SBOMs and the chart are release assets');
  t.match(chart, /\/usr\/share\/corridor\/sbom\/corridor\.spdx\.json/, "the image's own SBOM is one of them");
});

/** Runs the workflow's version check on copies of package.json, Chart.yaml and values.yaml. */
function checkRelease(t: Test, env: { TAG: string; OWNER: string; version?: string }) {
  const dir = mkdtempSync(join(tmpdir(), 'corridor-release-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  mkdirSync(join(dir, 'helm/corridor'), { recursive: true });
  for (const file of ['package.json', 'helm/corridor/Chart.yaml', 'helm/corridor/values.yaml']) copyFileSync(join(ROOT, file), join(dir, file));
  const output = join(dir, 'github-output');
  const result = spawnSync('bash', ['-e', '-c', stepWithId('release').run ?? ''], {
    cwd: dir,
    encoding: 'utf8',
    env: { PATH: process.env.PATH, TAG: env.TAG, OWNER: env.OWNER, GITHUB_OUTPUT: output },
  });
  let outputs = '';
  try {
    outputs = readFileSync(output, 'utf8');
  } catch {
    // no outputs: the check failed before writing them
  }
  return { status: result.status, stdout: result.stdout, outputs };
}

const version = (JSON.parse(read('package.json')) as { version: string }).version;

t.test("a tag equal to package.json's version and the chart's appVersion releases the chart's default image", async (t) => {
  t.match(read('helm/corridor/Chart.yaml'), new RegExp(`^appVersion: "${version.replaceAll('.', '\\.')}"$`, 'm'));
  const released = checkRelease(t, { TAG: `v${version}`, OWNER: 'Corridor-IO' });
  t.equal(released.status, 0, released.stdout);
  t.equal(released.outputs, `version=${version}\nimage=ghcr.io/corridor-io/corridor\ncharts=oci://ghcr.io/corridor-io/charts\n`);
  t.match(read('helm/corridor/values.yaml'), /^ {2}repository: ghcr\.io\/corridor-io\/corridor$/m, 'the chart defaults to that image');
});

t.test('any other tag fails the release, naming package.json and Chart.yaml, and publishes nothing', async (t) => {
  const other = checkRelease(t, { TAG: 'v9.9.9', OWNER: 'corridor-io' });
  t.equal(other.status, 1);
  t.match(other.stdout, `::error file=package.json::version is ${version}, the tag v9.9.9 says 9.9.9`);
  t.match(other.stdout, `::error file=helm/corridor/Chart.yaml::appVersion is ${version}, the tag v9.9.9 says 9.9.9`);
  t.equal(other.outputs, '');
  const malformed = checkRelease(t, { TAG: `v${version}.1-`, OWNER: 'corridor-io' });
  t.equal(malformed.status, 1);
  t.match(malformed.stdout, /is not v<major>\.<minor>\.<patch>/);
});

t.test("an owner whose image is not the chart's default fails the release, naming values.yaml", async (t) => {
  const fork = checkRelease(t, { TAG: `v${version}`, OWNER: 'someone-else' });
  t.equal(fork.status, 1);
  t.match(fork.stdout, '::error file=helm/corridor/values.yaml::image.repository is ghcr.io/corridor-io/corridor, but this release publishes ghcr.io/someone-else/corridor');
});
