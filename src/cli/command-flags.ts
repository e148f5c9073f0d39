import { parseFlags, usage, type FlagSpec, type FlagValue } from '../config/index.js';

type FlagValues = ReadonlyMap<string, FlagValue>;

/**
 * Flags of a command, plus what `derive` makes of them (it may add errors), or the exit code when
 * there is nothing to run: 0 after --help, 2 after printing every bad flag on one line.
 */
export function parseCommandFlags<T = undefined>(
  command: string,
  specs: readonly FlagSpec[],
  argv: readonly string[],
  derive: (values: FlagValues, errors: string[]) => T = () => undefined as T,
): { values: FlagValues; derived: T } | { exitCode: number } {
  const { values, errors, help } = parseFlags(specs, argv, process.env);
  if (help) {
    process.stdout.write(`${usage(command, specs)}\n`);
    return { exitCode: 0 };
  }
  const derived = derive(values, errors);
  if (errors.length > 0) {
    process.stderr.write(`corridor ${command}: ${errors.join('; ')}\n`);
    return { exitCode: 2 };
  }
  return { values, derived };
}
