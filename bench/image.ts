import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** How the image runs the agent, read from the Dockerfile so that the bench follows it. */
export interface ImageRuntime {
  /** The Node.js major of `ARG NODE_VERSION=<major>.<minor>.<patch>` (the binary the image copies in). */
  nodeMajor: number;
  /** The V8/Node flags of the runtime stage's ENTRYPOINT, between `node` and the script. */
  nodeFlags: string[];
  /** The runtime stage's `ENV` settings (NODE_ENV, allocator settings...), which the agent's process inherits. */
  env: Record<string, string>;
}

// From dist/bench/ (compiled) and bench/ (source) alike: the Dockerfile at the repository root.
const DOCKERFILES = ['../../Dockerfile', '../Dockerfile'].map((path) => fileURLToPath(new URL(path, import.meta.url)));

export function imageRuntime(): ImageRuntime {
  const text = readDockerfile();
  const major = /^ARG NODE_VERSION=(\d+)\./m.exec(text)?.[1];
  // The last stage is the image.
  const runtime = text.slice(text.lastIndexOf('\nFROM '));
  const entrypoint = /^ENTRYPOINT (\[.*\])$/m.exec(runtime)?.[1];
  if (!major || !entrypoint) throw new Error('Dockerfile: no NODE_VERSION or final-stage ENTRYPOINT');
  const argv = JSON.parse(entrypoint) as string[];
  const env: Record<string, string> = {};
  for (const [, settings] of runtime.matchAll(/^ENV (.+)$/gm)) {
    for (const [, name, value] of settings!.matchAll(/([A-Za-z_][A-Za-z0-9_]*)=("[^"]*"|\S*)/g)) env[name!] = value!.replace(/^"|"$/g, '');
  }
  return { nodeMajor: Number(major), nodeFlags: argv.slice(1).filter((arg) => arg.startsWith('--')), env };
}

function readDockerfile(): string {
  for (const path of DOCKERFILES) {
    try {
      return readFileSync(path, 'utf8');
    } catch {
      // the other layout
    }
  }
  throw new Error(`no Dockerfile at ${DOCKERFILES.join(' or ')}`);
}
