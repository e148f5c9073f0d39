import t, { type Test } from 'tap';
import http from 'node:http';
import { spawnSync } from 'node:child_process';
import { chmodSync, closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, readSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startFakeSts } from '../../demo/index.js';
import { spawnAgent } from '../helpers/agent-process.js';
import { fakeKubeApi, makeNamespace, makePod, within } from '../helpers/fake-kube-api.js';
import { freePort } from '../helpers/free-port.js';

// The image `npm run image` writes (dist/image/<arch>, OCI image layouts), unpacked here and run
// from its own files: amd64 natively (chroot), arm64 one program at a time under user-mode QEMU
// (`qemu-aarch64-static -L <its root>`; no binfmt handler is registered, nothing kernel-wide).
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const ARCHES = ['amd64', 'arm64'] as const;
const MAX_IMAGE_BYTES = 150 * 1024 * 1024;
const ELF_MACHINE = { amd64: 0x3e, arm64: 0xb7 } as const;

const missing = ARCHES.filter((arch) => !existsSync(join(ROOT, 'dist/image', arch, 'index.json')));
const isRoot = process.getuid?.() === 0;
const skip = missing.length > 0 ? `no dist/image/${missing.join(', ')}: run \`npm run image\` first (root, buildah)` : !isRoot ? 'needs root (chroot, unshare --net)' : undefined;
if (skip !== undefined) t.plan(0, skip);

interface Manifest { config: { digest: string }; layers: { digest: string; size: number }[] }
const blob = (arch: string, digest: string) => join(ROOT, 'dist/image', arch, 'blobs', ...digest.split(':'));
const json = <T>(file: string) => JSON.parse(readFileSync(file, 'utf8')) as T;

/** The image's manifest and config, and its layers unpacked in order into a directory of the test's. */
function unpack(t: Test, arch: (typeof ARCHES)[number]) {
  const index = json<{ manifests: { digest: string }[] }>(join(ROOT, 'dist/image', arch, 'index.json'));
  const manifest = json<Manifest>(blob(arch, index.manifests[0]?.digest ?? ''));
  const config = json<{ architecture: string; config: { User: string; Entrypoint: string[]; Cmd: string[]; Labels: Record<string, string> } }>(blob(arch, manifest.config.digest));
  const root = scratch(t, `corridor-image-${arch}-`);
  let bytes = 0;
  for (const layer of manifest.layers) {
    const listing = spawnSync('tar', ['-xzvvf', blob(arch, layer.digest), '-C', root], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
    if (listing.status !== 0) throw new Error(`tar: ${listing.stderr}`);
    // `tar -tvv` columns: mode owner size date time name; the uncompressed size is their sum.
    for (const line of listing.stdout.split('\n')) bytes += Number(line.split(/\s+/)[2] ?? 0) || 0;
  }
  return { manifest, config, root, bytes };
}

/** A directory of its own per use (t.testdir() gives one per test, and each call replaces it). */
function scratch(t: Test, prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function elfMachine(file: string): number {
  const fd = openSync(file, 'r');
  const header = Buffer.alloc(20);
  readSync(fd, header, 0, 20, 0);
  closeSync(fd);
  if (header.toString('latin1', 0, 4) !== '\x7fELF') throw new Error(`${file} is not ELF`);
  return header.readUInt16LE(18);
}

/** iptables-save without comments and counters: what a rule set is, not when it was read. */
const rules = (save: string) => save.split('\n').filter((line) => line !== '' && !line.startsWith('#')).map((line) => line.replace(/\[\d+:\d+\]/, '[0:0]')).join('\n');

const INSTALL = ['iptables', 'install', '--host-ip', '10.0.0.5', '--interface', 'cni0', '--port', '8181'];
const { version } = json<{ version: string }>(join(ROOT, 'package.json'));

t.test('both images: one file tree for every job, each file of its own architecture, under 150 MB', async (t) => {
  for (const arch of ARCHES) {
    const image = unpack(t, arch);
    t.equal(image.config.architecture, arch);
    t.ok(image.bytes <= MAX_IMAGE_BYTES, `${arch}: ${(image.bytes / 1e6).toFixed(1)} MB uncompressed (${(image.manifest.layers.reduce((sum, l) => sum + l.size, 0) / 1e6).toFixed(1)} MB compressed)`);
    t.match(image.config.config, { User: '65532:65532', Entrypoint: ['/usr/local/bin/node', '--max-semi-space-size=2', '/app/corridor.mjs'], Cmd: ['agent'] });
    t.match(image.config.config.Labels, { 'org.opencontainers.image.version': version, 'org.opencontainers.image.revision': /^[0-9a-f]{40}$|^unknown$/, 'org.opencontainers.image.source': /^https:\/\// });
    for (const file of ['usr/local/bin/node', 'usr/sbin/xtables-nft-multi', 'usr/sbin/xtables-legacy-multi']) {
      t.equal(elfMachine(join(image.root, file)), ELF_MACHINE[arch], `${arch}: ${file} is ${arch} ELF`);
    }
    t.notOk(existsSync(join(image.root, 'bin/sh')), 'no shell');
    t.same(readdirSync(join(image.root, 'app')).sort(), ['chunks', 'corridor.mjs'], 'no node_modules: the bundle, its entry and the chunks it loads on demand');
    t.match(readFileSync(join(image.root, 'usr/share/corridor/sbom/debian-packages.tsv'), 'utf8'), new RegExp(`\\niptables\\t1\\.8\\.\\S+\\t${arch}\\t`));
    t.match(json<{ spdxVersion: string; packages: { name: string }[] }>(join(image.root, 'usr/share/corridor/sbom/corridor.spdx.json')), { spdxVersion: /^SPDX-/, packages: [{ name: 'corridor' }] });
  }
});

t.test('arm64: its own Node runs the agent under user-mode QEMU, serves a credential document, and installs the same rules as amd64', async (t) => {
  const qemu = spawnSync('bash', [join(ROOT, 'scripts/install-qemu-user.sh')], { encoding: 'utf8' });
  if (qemu.status !== 0) return t.plan(0, `qemu-user-static could not be unpacked: ${qemu.stderr.trim().split('\n').pop() ?? ''}`);
  const qemuBin = qemu.stdout.trim();
  const arm = unpack(t, 'arm64');
  const amd = unpack(t, 'amd64');
  const armCorridor = [qemuBin, '-L', arm.root, join(arm.root, 'usr/local/bin/node'), join(arm.root, 'app/corridor.mjs')];

  const help = spawnSync(armCorridor[0] as string, [...armCorridor.slice(1), '--help'], { encoding: 'utf8', env: {} });
  t.equal(help.status, 0, help.stderr);
  t.match(help.stdout, /^usage: corridor <command>/);

  const sts = await startFakeSts();
  t.teardown(() => sts.close());
  const kube = await fakeKubeApi(t, {
    objects: [makeNamespace('gha', { 'iam.amazonaws.com/role': 'spark-etl' }), makePod({ name: 'driver', namespace: 'gha', ip: '127.0.0.2', nodeName: 'node-a' })],
  });
  const dir = scratch(t, 'corridor-image-run-');
  writeFileSync(join(dir, 'kubeconfig'), kube.kubeConfigText());
  const settings = { port: await freePort(), adminPort: await freePort(), kubeconfig: join(dir, 'kubeconfig'), stsUrl: sts.url, command: armCorridor };
  const agent = spawnAgent(t, settings);
  await within(agent.serving, 180_000, 'the arm64 agent under QEMU to serve');
  const document = await new Promise<{ status: number; body: string }>((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port: settings.port, path: '/latest/meta-data/iam/security-credentials/spark-etl', localAddress: '127.0.0.2', agent: false }, (res) => {
      let body = '';
      res.on('data', (chunk: Buffer) => (body += chunk.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
  t.equal(document.status, 200, document.body);
  t.match(JSON.parse(document.body), { Code: 'Success', Type: 'AWS-HMAC', AccessKeyId: String, Token: String });
  agent.child.kill('SIGTERM');

  // In a network namespace of the test's own. QEMU's user mode does not translate netfilter's
  // netlink sockets (nft: "Protocol not supported") nor legacy iptables' socket options, so the
  // arm64 corridor's iptables calls reach the amd64 image's iptables (through PATH); what is
  // compared is what corridor on each architecture asks for and leaves behind.
  const wrappers = join(dir, 'wrappers');
  mkdirSync(wrappers);
  for (const name of ['iptables', 'iptables-restore', 'ip6tables', 'ip6tables-restore']) {
    writeFileSync(join(wrappers, name), `#!/bin/sh\nexec chroot ${amd.root} /usr/sbin/${name} "$@"\n`);
    chmodSync(join(wrappers, name), 0o755);
  }
  const save = `chroot ${amd.root} /usr/sbin/iptables-save && chroot ${amd.root} /usr/sbin/ip6tables-save`;
  const inNamespace = (install: string[], path: string) =>
    spawnSync('unshare', ['--net', '--', 'sh', '-c', `unset NODE_OPTIONS; "$@" >&2 && ${save}`, 'sh', ...install], { encoding: 'utf8', env: { PATH: path } });
  const onAmd = inNamespace(['chroot', amd.root, '/usr/local/bin/node', '/app/corridor.mjs', ...INSTALL], '/usr/sbin:/usr/bin:/sbin:/bin');
  const onArm = inNamespace([...armCorridor, ...INSTALL], `${wrappers}:/usr/sbin:/usr/bin:/sbin:/bin`);
  t.equal(onAmd.status, 0, onAmd.stderr);
  t.equal(onArm.status, 0, onArm.stderr);
  t.match(onArm.stderr, /created nat chain CORRIDOR-IMDS with 1 DNAT rule/);
  t.match(rules(onAmd.stdout), /-A CORRIDOR-IMDS -d 169\.254\.169\.254\/32 -i cni0 -p tcp -m tcp --dport 80 -j DNAT --to-destination 10\.0\.0\.5:8181/);
  t.equal(rules(onArm.stdout), rules(onAmd.stdout), 'the same rules, to the byte');

  // The arm64 image's own iptables binaries start under QEMU and find their libraries (iptables-nft
  // itself opens netfilter's netlink first; its -save sibling, the same program, prints first).
  for (const [program, backend] of [['iptables-nft-save', 'nf_tables'], ['iptables-legacy', 'legacy']] as const) {
    const run = spawnSync(qemuBin, ['-L', arm.root, join(arm.root, 'usr/sbin', program), '--version'], { encoding: 'utf8', env: {} });
    t.match(run.stdout, `v1.8.`, `arm64 ${program} runs`);
    t.match(run.stdout, `(${backend})`);
  }
});
