import t from 'tap';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

// .ci/run runs this suite twice: on the machine's Node and on Node.js 24, the image's runtime
// (scripts/install-node24.sh), naming the major it put first on PATH in CORRIDOR_EXPECT_NODE.
// Tests start their children with process.execPath, so those must be that Node too.

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const read = (path: string) => readFileSync(ROOT + path, 'utf8');
const major = (version: string) => Number(/^v?(\d+)/.exec(version)?.[1]);

t.test('the tests, and the processes they start, run on the Node that CI asked for', async (t) => {
  t.comment(`node ${process.version} (${process.execPath})`);
  const child = spawnSync(process.execPath, ['-p', 'process.version'], { encoding: 'utf8' });
  t.equal(child.stdout.trim(), process.version, 'a child started with process.execPath runs the same Node');
  const expected = process.env.CORRIDOR_EXPECT_NODE;
  if (!expected) return;
  t.equal(major(process.version), Number(expected), `CORRIDOR_EXPECT_NODE=${expected}`);
  const onPath = spawnSync('node', ['-p', 'process.version'], { encoding: 'utf8' });
  t.equal(onPath.stdout.trim(), process.version, '`node` on PATH (shebangs, npm scripts) is the same Node');
});

t.test('package.json engines, the image, the Node 24 install and the README name the same versions', async (t) => {
  const engines = (JSON.parse(read('package.json')) as { engines: { node: string } }).engines.node;
  const lowest = Number(/^>=(\d+)$/.exec(engines)?.[1]);
  t.ok(lowest > 0, `engines.node is ">=N" (${engines})`);
  const image = /^ARG NODE_VERSION=(\d+\.\d+\.\d+)$/m.exec(read('Dockerfile'))?.[1];
  t.ok(image, 'the Dockerfile names the Node.js version the image ships in NODE_VERSION');
  t.ok(major(`v${image}`) >= lowest, `the image's Node ${image} satisfies engines ${engines}`);
  const installed = /^version=\$\{NODE24_VERSION:-(\d+\.\d+\.\d+)\}/m.exec(read('scripts/install-node24.sh'))?.[1];
  t.equal(installed, image, 'CI tests on the very Node.js the image ships');
  t.match(read('README.md'), `Node.js ${lowest} or later`, 'the README states the lowest supported Node');
});
