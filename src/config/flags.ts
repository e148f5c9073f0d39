import { parseDuration } from '../time/index.js';

type FlagKind = 'string' | 'port' | 'duration' | 'boolean' | 'list' | 'integer';

/**
 * One row of a command's flag table. Declare a table `[...] as const satisfies readonly FlagSpec[]`
 * so its names and kinds stay literal: the parsed values are then typed from the table.
 */
export interface FlagSpec {
  /** Flag name without dashes, kebab-case: `session-duration`. Its value's key is camelCase: `sessionDuration`. */
  readonly name: string;
  readonly kind: FlagKind;
  readonly help: string;
  /** Default as the user would type it; undefined means no default. */
  readonly default?: string;
  readonly required?: boolean;
  /** A `list` flag that may be given more than once; the values add up (`--interface a --interface b`). */
  readonly repeatable?: boolean;
  /** A `string` flag that takes an empty value says what it means (shown in --help); others refuse it. */
  readonly emptyMeans?: string;
  /** A `duration` flag that takes 0 says what it means (shown in --help); others refuse it. */
  readonly zeroMeans?: string;
  /** A `string` flag that takes only these values; its value is typed as their union. */
  readonly choices?: readonly string[];
}

interface KindValues {
  string: string;
  port: number;
  integer: number;
  /** Milliseconds. */
  duration: number;
  boolean: boolean;
  list: readonly string[];
}

/** `session-duration` -> `sessionDuration`, as a type. */
type CamelCase<S extends string> = S extends `${infer Head}-${infer Tail}` ? `${Head}${Capitalize<CamelCase<Tail>>}` : S;

type ValueOf<S extends FlagSpec> = S extends { readonly choices: readonly (infer C)[] } ? C : KindValues[S['kind']];
/** A flag with a default or that is required always has a value; the others may be unset. */
type Always<S extends FlagSpec> = S extends { readonly default: string } ? true : S extends { readonly required: true } ? true : false;

/** The values of a flag table, one camelCase key per flag: a misspelled flag does not compile. */
export type FlagValues<Specs extends readonly FlagSpec[]> = {
  readonly [S in Specs[number] as CamelCase<S['name']>]: Always<S> extends true ? ValueOf<S> : ValueOf<S> | undefined;
};

/** The names of a flag table. */
export type FlagName<Specs extends readonly FlagSpec[]> = Specs[number]['name'];

/** The rows of `specs` with these names, in the table's order, keeping their literal types. */
export function pickFlags<const Specs extends readonly FlagSpec[], const Name extends FlagName<Specs>>(
  specs: Specs,
  names: readonly Name[],
): Extract<Specs[number], { name: Name }>[] {
  return specs.filter((spec): spec is Extract<Specs[number], { name: Name }> => names.some((name) => name === spec.name));
}

/** `session-duration` -> `CORRIDOR_SESSION_DURATION`. */
export function envName(flag: string): string {
  return `CORRIDOR_${flag.toUpperCase().replace(/-/g, '_')}`;
}

function camelCase(flag: string): string {
  return flag.replace(/-([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}

export interface ParsedFlags<Specs extends readonly FlagSpec[], Action extends string = never> {
  values: FlagValues<Specs>;
  /** Flags set on the command line or in the environment; the others have their default. */
  given: ReadonlySet<FlagName<Specs>>;
  /** The first argument that is not a flag, when the command takes one of `actions`; undefined when it is missing or unknown (an error says which). */
  action: Action | undefined;
  errors: string[];
  help: boolean;
}

/**
 * Reads `--name value`, `--name=value` and bare `--bool` from argv, then `CORRIDOR_*` from env,
 * then defaults. Flags win over env. Unset means the default; an empty value, from a flag or the
 * environment alike, is a value: an empty list for a list flag, '' for a flag that says what empty
 * means (`emptyMeans`), an error for every other kind.
 * A command given `actions` takes one of them as its first argument; any other argument is an error.
 * Every problem is collected, none thrown, so the caller can report them all in one line. A flag
 * with a problem holds its default (a required one its kind's empty value), so checks across flags
 * still run on typed values; the result is not to be used while there are errors.
 */
export function parseFlags<const Specs extends readonly FlagSpec[], const Action extends string = never>(
  specs: Specs,
  argv: readonly string[],
  env: NodeJS.ProcessEnv,
  actions: readonly Action[] = [],
): ParsedFlags<Specs, Action> {
  const byName = new Map<string, FlagSpec>(specs.map((s) => [s.name, s]));
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
    else text = argv[++i];
    if (text === undefined) continue;
    const earlier = raw.get(name);
    raw.set(name, spec.repeatable && earlier !== undefined ? `${earlier},${text}` : text);
  }

  // What to do comes first in the list of problems, a stray argument after the flags' (--help asks for neither).
  const [actionText, ...extra] = actions.length > 0 ? positionals : [undefined, ...positionals];
  const action = actions.find((a) => a === actionText);
  if (!help && actions.length > 0 && actionText === undefined) errors.unshift(`an action is required: ${actions.join(', ')}`);
  else if (!help && actions.length > 0 && action === undefined) errors.unshift(`unknown action "${actionText}" (${actions.join(', ')})`);

  const values: Record<string, unknown> = {};
  const given = new Set<string>();
  for (const spec of specs) {
    const key = camelCase(spec.name);
    const fromFlag = raw.get(spec.name);
    const setText = fromFlag ?? env[envName(spec.name)];
    if (setText !== undefined) given.add(spec.name);
    values[key] = fallback(spec);
    if (setText === '' && spec.kind !== 'list' && spec.emptyMeans === undefined) {
      errors.push(`--${spec.name}: ${emptyValueProblem(spec, fromFlag !== undefined)}`);
      continue;
    }
    const text = setText ?? spec.default;
    if (text === undefined) {
      if (spec.required) errors.push(`--${spec.name} (or ${envName(spec.name)}) is required`);
      continue;
    }
    const parsed = convert(spec, text);
    if ('error' in parsed) errors.push(`--${spec.name}: ${parsed.error}`);
    else values[key] = parsed.value;
  }
  if (!help && extra.length > 0) errors.push(`unexpected argument ${extra[0]}`);
  // The one place the table's types meet the values built from it: every key was set above, by kind.
  return { values: values as FlagValues<Specs>, given, action, errors, help };
}

/** What a flag holds when its text has a problem: its default, or for a required flag its first choice or its kind's empty value. */
function fallback(spec: FlagSpec): unknown {
  const parsed = spec.default === undefined ? undefined : convert(spec, spec.default);
  if (parsed !== undefined && 'value' in parsed) return parsed.value;
  if (!spec.required) return undefined;
  return spec.choices?.[0] ?? { string: '', port: 0, integer: 0, duration: 0, boolean: false, list: [] }[spec.kind];
}

/** Only a list, or a flag that says what empty means, can be empty; say how to get the default instead. */
function emptyValueProblem(spec: FlagSpec, fromFlag: boolean): string {
  const where = fromFlag ? '' : ` in ${envName(spec.name)}`;
  if (spec.required) return `empty value${where}`;
  const fix = fromFlag ? 'leave the flag out' : 'unset it';
  const then = spec.default !== undefined ? `for the default, ${spec.default}` : 'to set none';
  return `empty value${where} (${fix} ${then})`;
}

type Converted = { value: string | number | boolean | readonly string[] } | { error: string };

function convert(spec: FlagSpec, text: string): Converted {
  switch (spec.kind) {
    case 'string':
      if (spec.choices !== undefined && !spec.choices.includes(text)) return { error: `"${text}" is not one of ${spec.choices.join(', ')}` };
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

/** `usage: corridor <command> [flags]`, then one line per flag, for --help. */
export function usage(command: string, specs: readonly FlagSpec[]): string {
  const lines = specs.map((s) => {
    const def = s.default !== undefined ? ` (default ${s.default || '""'})` : s.required ? ' (required)' : '';
    const repeat = s.repeatable ? ' (repeatable)' : '';
    return `  --${s.name.padEnd(24)} ${s.help}${def}${repeat} [${envName(s.name)}]`;
  });
  return `usage: corridor ${command} [flags]\n${lines.join('\n')}`;
}
