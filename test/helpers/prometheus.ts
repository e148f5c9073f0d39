import { spawn, spawnSync } from 'node:child_process';
import { accessSync, constants, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import type { Test } from 'tap';
import { stringify } from 'yaml';
import { freePort } from './free-port.js';
import { only, renderChart } from './helm.js';
import { stopChild } from './stop-child.js';
import { eventually } from './eventually.js';

export type ToolLookup = { ok: true; bin: string } | { ok: false; reason: string };

const INSTALL_HINT = 'bash scripts/install-prometheus.sh installs Debian\'s prometheus package (prometheus and promtool)';

/**
 * A Prometheus tool (`promtool` or `prometheus`): $PROMTOOL / $PROMETHEUS, else the first on
 * PATH or in /usr/bin. Tests skip with the reason when it is missing; nothing is installed here.
 */
export function findPrometheusTool(name: 'promtool' | 'prometheus'): ToolLookup {
  const override = process.env[name.toUpperCase()];
  if (override) return executable(override) ? { ok: true, bin: override } : { ok: false, reason: `${name.toUpperCase()}=${override} is not an executable` };
  const dirs = [...(process.env.PATH ?? '').split(delimiter).filter(Boolean), '/usr/bin'];
  for (const dir of dirs) {
    const bin = join(dir, name);
    if (executable(bin)) return { ok: true, bin };
  }
  return { ok: false, reason: `${name} is not installed (${INSTALL_HINT})` };
}

function executable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** `prometheus --version`'s first line, e.g. "prometheus, version 2.42.0+ds (branch: ...)". */
export function toolVersion(bin: string): string {
  const result = spawnSync(bin, ['--version'], { encoding: 'utf8', timeout: 10_000 });
  return `${result.stdout ?? ''}${result.stderr ?? ''}`.split('\n')[0]?.trim() ?? '';
}

export interface ToolResult {
  status: number;
  output: string;
}

export function runTool(bin: string, args: readonly string[], cwd?: string): ToolResult {
  const result = spawnSync(bin, args, { cwd, encoding: 'utf8', timeout: 60_000 });
  return { status: result.status ?? -1, output: `${result.stdout ?? ''}${result.stderr ?? String(result.error ?? '')}` };
}

export interface RuleGroup {
  name: string;
  rules: Array<{ alert?: string; record?: string; expr: string; for?: string; labels?: Record<string, string>; annotations?: Record<string, string> }>;
}

/** The chart's PrometheusRule (rendered with `set`), as the rule groups a Prometheus rules file holds. */
export function renderedRuleGroups(helmBin: string, set: Readonly<Record<string, string | number | boolean>> = {}): RuleGroup[] {
  const rule = only(renderChart(helmBin, { 'metrics.prometheusRule.enabled': true, ...set }), 'PrometheusRule') as unknown as { spec: { groups: RuleGroup[] } };
  return rule.spec.groups;
}

/** The text of a Prometheus rules file (`groups:`, what promtool and prometheus read). */
export function rulesFileText(groups: readonly RuleGroup[]): string {
  return stringify({ groups });
}

/** Writes a Prometheus rules file and returns its path. */
export function writeRulesFile(file: string, groups: readonly RuleGroup[]): string {
  writeFileSync(file, rulesFileText(groups));
  return file;
}

/** A temporary directory removed when the test ends. */
export function tempDir(t: Test, prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

export interface RunningPrometheus {
  url: string;
  output(): string;
  /** GET of an /api/v1 path; resolves with the `data` of a success answer, rejects otherwise. */
  api<T>(path: string, params?: Record<string, string>): Promise<T>;
}

/**
 * A real Prometheus on 127.0.0.1 (a free port) with its TSDB in a temporary directory, reading
 * `config` (a prometheus.yml as data) and `files` written next to it (rules files by name).
 * Stopped (SIGTERM, then SIGKILL) and its directory removed when the test ends; a guard shell
 * kills it should the test process die before its teardown (a file timeout), so no daemon
 * outlives the test.
 */
export async function startPrometheus(t: Test, bin: string, config: Record<string, unknown>, files: Record<string, string> = {}): Promise<RunningPrometheus> {
  const dir = mkdtempSync(join(tmpdir(), 'corridor-prometheus-'));
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  const configFile = join(dir, 'prometheus.yml');
  writeFileSync(configFile, stringify(config));
  const port = await freePort();
  const child = spawn(
    bin,
    [`--config.file=${configFile}`, `--storage.tsdb.path=${join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`, '--log.level=warn'],
    { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  // The guard reads its stdin, which only this process holds: a newline means "stopped in
  // teardown", end of file without one means this process is gone, so Prometheus must go too.
  const guard = spawn('sh', ['-c', 'read -r _ || kill -KILL "$1" 2>/dev/null', 'prometheus-guard', String(child.pid)], { stdio: ['pipe', 'ignore', 'ignore'] });
  guard.unref();
  t.teardown(async () => {
    guard.stdin?.end('\n');
    await stopChild(child);
    rmSync(dir, { recursive: true, force: true });
  });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const url = `http://127.0.0.1:${port}`;
  const exited = new Promise<never>((_, reject) => child.once('exit', (code) => reject(new Error(`prometheus exited (${String(code)}):\n${output}`))));
  exited.catch(() => {});
  const running: RunningPrometheus = {
    url,
    output: () => output,
    async api<T>(path: string, params: Record<string, string> = {}): Promise<T> {
      const query = new URLSearchParams(params).toString();
      const { status, body } = await get(`${url}/api/v1/${path}${query ? `?${query}` : ''}`);
      const answer = JSON.parse(body) as { status: string; data: T; error?: string; errorType?: string };
      if (status !== 200 || answer.status !== 'success') throw new Error(`${path} ${query}: ${status} ${answer.errorType ?? ''} ${answer.error ?? body}`);
      return answer.data;
    },
  };
  // /-/ready answers 200 once the TSDB is open and the config (rules included) is loaded.
  await Promise.race([exited, eventually('prometheus /-/ready', 20_000, async () => (await get(`${url}/-/ready`)).status === 200)]);
  return running;
}

function get(url: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const request = http.get(url, { agent: false, timeout: 5_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    request.on('timeout', () => request.destroy(new Error(`${url}: no answer within 5 s`)));
    request.on('error', reject);
  });
}
