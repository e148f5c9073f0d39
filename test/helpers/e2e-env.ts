import { existsSync } from 'node:fs';
import { delimiter, join } from 'node:path';

/** What a test in network namespaces finds out from a pod: one JSON line, as the fixtures print it. */
export type Probe = { status: number; body: string } | { error: string };

/** What a network-namespace e2e needs from the machine; each missing piece named. */
export function missingPrerequisites(): string[] {
  const missing: string[] = [];
  if (process.getuid?.() !== 0) missing.push('root (it creates network namespaces and iptables rules in them)');
  for (const [tool, where] of [['ip', 'iproute2'], ['iptables', 'iptables'], ['iptables-restore', 'iptables'], ['ip6tables', 'iptables'], ['ip6tables-restore', 'iptables'], ['python3', 'python3']] as const) {
    if (!onPath(tool)) missing.push(`${tool} (${where}; bash scripts/install-system-peers.sh installs iptables and iproute2)`);
  }
  return missing;
}

function onPath(tool: string): boolean {
  return searchPath().some((dir) => existsSync(join(dir, tool)));
}

/** PATH with the sbin directories, where ip and iptables live. */
export function searchPath(): string[] {
  return [...(process.env.PATH ?? '').split(delimiter), '/usr/sbin', '/sbin'].filter(Boolean);
}

/**
 * The environment every process in the namespaces gets: no AWS keys, profiles or proxies from
 * the machine (the SDKs must find credentials through IMDS alone), and none of tap's loader
 * options (the children are plain JavaScript).
 */
export function childEnv(): NodeJS.ProcessEnv {
  const keep = ['HOME', 'LANG', 'LC_ALL', 'TMPDIR', 'PYENV_ROOT', 'PYENV_VERSION', 'VIRTUAL_ENV', 'PYTHONPATH', 'PYTHONUSERBASE'];
  const env: NodeJS.ProcessEnv = { PATH: searchPath().join(delimiter), AWS_CONFIG_FILE: '/dev/null', AWS_SHARED_CREDENTIALS_FILE: '/dev/null' };
  for (const name of keep) if (process.env[name] !== undefined) env[name] = process.env[name];
  return env;
}

/** The last line of a fixture's output, parsed. */
export function lastJsonLine<T>(text: string): T {
  const line = text.trim().split('\n').at(-1) ?? '';
  try {
    return JSON.parse(line) as T;
  } catch {
    throw new Error(`expected a JSON line, got: ${text}`);
  }
}
