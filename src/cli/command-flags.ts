import { parseFlags, usage, type FlagSpec, type FlagValue } from '../config/index.js';

/**
 * Flags of a command, or the exit code when there is nothing to run: 0 after --help, 2 after
 * printing every bad flag on one line.
 */
export function parseCommandFlags(
  command: string,
  specs: readonly FlagSpec[],
  argv: readonly string[],
): { values: ReadonlyMap<string, FlagValue> } | { exitCode: number } {
  const { values, errors, help } = parseFlags(specs, argv, process.env);
  if (help) {
    process.stdout.write(`${usage(command, specs)}\n`);
    return { exitCode: 0 };
  }
  if (errors.length > 0) {
    process.stderr.write(`corridor ${command}: ${errors.join('; ')}\n`);
    return { exitCode: 2 };
  }
  return { values };
}
