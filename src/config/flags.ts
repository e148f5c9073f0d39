import { parseDuration } from '../time/index.js';

export type FlagKind = 'string' | 'port' | 'duration' | 'boolean' | 'list' | 'integer';

export interface FlagSpec {
  /** Flag name without dashes, kebab-case: `session-duration`. */
  name: string;
  kind: FlagKind;
  help: string;
  /** Default as the user would type it; undefined means no default. */
  default?: string;
  required?: boolean;
  /** A `list` flag that may be given more than once; the values add up (`--interface a --interface b`). */
  repeatable?: boolean;
  /** A `string` flag that takes an empty value says what it means (shown in --help); others refuse it. */
  emptyMeans?: string;
  /** A `duration` flag that takes 0 says what it means (shown in --help); others refuse it. */
  zeroMeans?: string;
}

export type FlagValue = string | number | boolean | readonly string[] | undefined;

/** `session-duration` -> `CORRIDOR_SESSION_DURATION`. */
export function envName(flag: string): string {
  return `CORRIDOR_${flag.toUpperCase().replace(/-/g, '_')}`;
}

export interface ParsedFlags {
  values: Map<string, FlagValue>;
  /** Flags set on the command line or in the environment; the others have their default. */
  given: Set<string>;
  positionals: string[];
  errors: string[];
  help: boolean;
}

/**
 * Reads `--name value`, `--name=value` and bare `--bool` from argv, then `CORRIDOR_*` from env,
 * then defaults. Flags win over env. Unset means the default; an empty value, from a flag or the
 * environment alike, is a value: an empty list for a list flag, '' for a flag that says what empty
 * means (`emptyMeans`), an error for every other kind.
 * Every problem is collected, none thrown, so the caller can report them all in one line.
 */
export function parseFlags(specs: readonly FlagSpec[], argv: readonly string[], env: NodeJS.ProcessEnv): ParsedFlags {
  const byName = new Map(specs.map((s) => [s.name, s]));
  const raw = new Map<string, string>();
  const positionals: string[] = [];
  const errors: string[] = [];
  let help = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg === '--help' || arg === '-h') {
      help = true;
      continue;
    }
    if (!arg.startsWith('--')) {
      positionals.push(arg);
      continue;
    }
    const eq = arg.indexOf('=');
    const name = arg.slice(2, eq === -1 ? undefined : eq);
    const spec = byName.get(name);
    if (!spec) {
      errors.push(`unknown flag --${name}`);
      continue;
    }
    let text: string | undefined;
    if (eq !== -1) text = arg.slice(eq + 1);
    else if (spec.kind === 'boolean' && (argv[i + 1] === undefined || !/^(true|false)$/.test(argv[i + 1] as string))) text = 'true';
    else if (argv[i + 1] === undefined) errors.push(`--${name} needs a value`);
    else text = argv[++i] as string;
    if (text === undefined) continue;
    const earlier = raw.get(name);
    raw.set(name, spec.repeatable && earlier !== undefined ? `${earlier},${text}` : text);
  }
  const values = new Map<string, FlagValue>();
  const given = new Set<string>();
  for (const spec of specs) {
    const fromFlag = raw.get(spec.name);
    const setText = fromFlag ?? env[envName(spec.name)];
    if (setText !== undefined) given.add(spec.name);
    if (setText === '' && spec.kind !== 'list' && spec.emptyMeans === undefined) {
      errors.push(`--${spec.name}: ${emptyValueProblem(spec, fromFlag !== undefined)}`);
      values.set(spec.name, undefined);
      continue;
    }
    const text = setText ?? spec.default;
    if (text === undefined) {
      if (spec.required) errors.push(`--${spec.name} (or ${envName(spec.name)}) is required`);
      values.set(spec.name, undefined);
      continue;
    }
    const parsed = convert(spec, text);
    if (parsed.error) errors.push(`--${spec.name}: ${parsed.error}`);
    values.set(spec.name, parsed.value);
  }
  return { values, given, positionals, errors, help };
}

/** Only a list, or a flag that says what empty means, can be empty; say how to get the default instead. */
function emptyValueProblem(spec: FlagSpec, fromFlag: boolean): string {
  const where = fromFlag ? '' : ` in ${envName(spec.name)}`;
  if (spec.required) return `empty value${where}`;
  const fix = fromFlag ? 'leave the flag out' : 'unset it';
  const then = spec.default !== undefined ? `for the default, ${spec.default}` : 'to set none';
  return `empty value${where} (${fix} ${then})`;
}

function convert(spec: FlagSpec, text: string): { value?: FlagValue; error?: string } {
  switch (spec.kind) {
    case 'string':
      return { value: text };
    case 'boolean':
      if (/^(true|1|yes)$/i.test(text)) return { value: true };
      if (/^(false|0|no)$/i.test(text)) return { value: false };
      return { error: `"${text}" is not true or false` };
    case 'port': {
      const n = Number(text);
      // 0 asks the OS for a free port (tests, demos); a DaemonSet always sets a real one.
      return /^\d+$/.test(text) && n <= 65535 ? { value: n } : { error: `"${text}" is not a port (0-65535)` };
    }
    case 'integer': {
      const n = Number(text);
      return Number.isInteger(n) && n >= 0 ? { value: n } : { error: `"${text}" is not a whole number` };
    }
    case 'duration': {
      const ms = parseDuration(text);
      if (ms === 0 && spec.zeroMeans !== undefined) return { value: 0 };
      return ms === undefined || ms <= 0 ? { error: `"${text}" is not a duration (like 90s, 15m, 1h or seconds)` } : { value: ms };
    }
    case 'list':
      return { value: text.split(',').map((s) => s.trim()).filter((s) => s.length > 0) };
  }
}

/** One line per flag, for --help. */
export function usage(command: string, specs: readonly FlagSpec[]): string {
  const lines = specs.map((s) => {
    const def = s.default !== undefined ? ` (default ${s.default || '""'})` : s.required ? ' (required)' : '';
    const repeat = s.repeatable ? ' (repeatable)' : '';
    return `  --${s.name.padEnd(24)} ${s.help}${def}${repeat} [${envName(s.name)}]`;
  });
  return `usage: corridor ${command} [flags]\n${lines.join('\n')}`;
}
