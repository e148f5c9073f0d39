import { execFile } from 'node:child_process';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import t from 'tap';

/**
 * @kubernetes/client-node costs about 90 MB of RSS on import, on every node of the cluster. The
 * agent's module graph must not import it; only `corridor explain` and the fallback for exec or
 * auth-provider kubeconfig users may. Checked in a fresh process whose module loader refuses
 * client-node, so any static import anywhere in the graph fails the import.
 */

const run = promisify(execFile);
const root = fileURLToPath(new URL('../../', import.meta.url));

const HOOKS = `
export async function resolve(specifier, context, next) {
  if (specifier === '@kubernetes/client-node' || specifier.startsWith('@kubernetes/client-node/')) {
    throw new Error('client-node imported by ' + context.parentURL);
  }
  return next(specifier, context);
}`;

const CHILD = `
import { register } from 'node:module';
register('data:text/javascript,' + encodeURIComponent(${JSON.stringify(HOOKS)}));
const results = {};
for (const target of JSON.parse(process.env.CORRIDOR_IMPORT_TARGETS)) {
  try {
    await import(target);
    results[target] = 'loaded';
  } catch (error) {
    results[target] = String(error.message).split('\\n')[0];
  }
}
process.stdout.write(JSON.stringify(results));
`;

t.test('the agent\'s module graph never imports @kubernetes/client-node', async (t) => {
  const url = (path: string) => pathToFileURL(`${root}${path}`).href;
  const agentGraph = ['src/main.ts', 'src/cli/agent.ts', 'src/kube/index.ts', 'demo/index.ts'].map(url);
  // The check must be able to fail: explain imports client-node on purpose.
  const control = url('src/cli/explain.ts');
  // This process's TypeScript loader, without tap's own instrumentation.
  const loader = process.execArgv.filter((arg) => arg.includes('@tapjs/typescript'));
  const env: NodeJS.ProcessEnv = { ...process.env, CORRIDOR_IMPORT_TARGETS: JSON.stringify([...agentGraph, control]) };
  delete env.NODE_OPTIONS;
  const { stdout } = await run(process.execPath, [...loader, '--input-type=module', '-e', CHILD], { cwd: root, env, timeout: 110_000 });
  const results = JSON.parse(stdout) as Record<string, string>;
  for (const target of agentGraph) t.equal(results[target], 'loaded', target.slice(root.length + 7));
  t.match(results[control], /client-node imported by file:.*\/src\/kube\/api\/cluster-api\.ts/, 'the guard does refuse client-node (explain imports it, through kube/api/cluster-api.ts)');
});
