import { execFile } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CONFIG = join(ROOT, 'test/e2e/tsconfig.build.json');
/** Must match outDir in test/e2e/tsconfig.build.json. */
const OUT = join(ROOT, 'node_modules/.cache/corridor-e2e');

export interface E2eBuild {
  /** The built `corridor` CLI, as the image runs it. */
  corridor: string;
  /** A built fixture from test/e2e/fixtures, by file name without extension. */
  fixture(name: string): string;
}

/**
 * Compiles src/ and test/e2e/fixtures/ to JavaScript for tests that run them as processes of
 * their own (inside network namespaces, where tap's TypeScript loader is not wanted). tsc's
 * incremental build skips what is up to date, so a second run takes a few seconds at most.
 */
export async function buildForE2e(): Promise<E2eBuild> {
  mkdirSync(OUT, { recursive: true });
  // The build lives under node_modules/, where Node stops looking for the project's package.json;
  // this one makes the output ES modules, and gives version() the project's version.
  const { version } = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };
  writeFileSync(join(OUT, 'package.json'), `${JSON.stringify({ name: 'corridor-e2e-build', private: true, type: 'module', version })}\n`);
  const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
  try {
    await run(process.execPath, [tsc, '-p', CONFIG], { cwd: ROOT, timeout: 120_000 });
  } catch (error) {
    const { stdout, stderr } = error as { stdout?: string; stderr?: string };
    throw new Error(`building for the e2e failed: ${stdout ?? ''}${stderr ?? ''}`.trim());
  }
  return {
    corridor: join(OUT, 'src/cli/corridor.js'),
    fixture: (name) => join(OUT, 'test/e2e/fixtures', `${name}.js`),
  };
}
