import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The nearest package.json above this file: src/ when run from source, dist/src/ when built. */
function readVersion(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const candidate = join(dir, 'package.json');
    if (existsSync(candidate)) return (JSON.parse(readFileSync(candidate, 'utf8')) as { version: string }).version;
    const parent = dirname(dir);
    if (parent === dir) return 'unknown';
    dir = parent;
  }
}

// Set by the bundle (scripts/bundle.sh, esbuild --define), which has no package.json beside it.
declare const CORRIDOR_BUNDLED_VERSION: string | undefined;

let cached: string | undefined;

/** corridor's version: the bundle's own, else package.json's, read on first use. */
export function version(): string {
  cached ??= typeof CORRIDOR_BUNDLED_VERSION === 'string' ? CORRIDOR_BUNDLED_VERSION : readVersion();
  return cached;
}
