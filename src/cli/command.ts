import { parseFlags, usage, type FlagName, type FlagSpec, type FlagValues } from '../config/index.js';
import { EXIT } from './exit-codes.js';

/** Where a command writes, and the environment its flags fall back to. */
export interface CommandIo {
  env: NodeJS.ProcessEnv;
  /** Writes one line (or block) to stdout; the newline is added. */
  out(text: string): void;
  /** The same to stderr. */
  err(text: string): void;
}

export function processIo(): CommandIo {
  return {
    env: process.env,
    out: (text) => process.stdout.write(`${text}\n`),
    err: (text) => process.stderr.write(`${text}\n`),
  };
}

/** What a command's `input` gets: its typed flag values, its action, which flags were set, the environment. */
interface CommandLine<Specs extends readonly FlagSpec[], Action extends string> {
  values: FlagValues<Specs>;
  /** One of the command's `actions`; a command without actions has none (`never`). */
  action: Action;
  given: ReadonlySet<FlagName<Specs>>;
  env: NodeJS.ProcessEnv;
}

/**
 * A corridor command: its flag table, what it makes of the flags, and what it does. The runner
 * owns --help, usage errors (one line naming every problem, exit 2) and the exit code of each;
 * `run` returns a code from EXIT.
 */
export interface Command<Specs extends readonly FlagSpec[], Action extends string, Input, Io extends CommandIo = CommandIo> {
  /** As typed after `corridor`: `explain`, `token-key`. */
  name: string;
  /** The command's first argument, one of these (`install`, `check`, `remove`); none when left out. */
  actions?: readonly Action[];
  flags: Specs;
  /** What --help says after the flag list. */
  details?: string;
  /** What the problems are, before the list of them: `invalid configuration`. */
  problemsAre?: string;
  /** What `run` needs, from the command line; checks what the table alone cannot (flags that depend on each other) by adding to `errors`. */
  input(line: CommandLine<Specs, Action>, errors: string[]): Input;
  /** Runs only when there are no errors; returns the exit code. */
  run(input: Input, io: Io): Promise<number>;
}

/** A command ready to run from argv. */
export interface RunnableCommand<Io extends CommandIo = CommandIo> {
  readonly name: string;
  /** The --help text. */
  help(): string;
  main(argv: readonly string[], io: Io): Promise<number>;
}

/** The one runner: parse, then --help (exit 0), usage errors (exit 2), or run. */
export function defineCommand<const Specs extends readonly FlagSpec[], const Action extends string, Input, Io extends CommandIo = CommandIo>(
  command: Command<Specs, Action, Input, Io>,
): RunnableCommand<Io> {
  const actions = command.actions ?? [];
  const help = () => {
    const synopsis = actions.length > 0 ? `${command.name} ${actions.join('|')}` : command.name;
    return command.details === undefined ? usage(synopsis, command.flags) : `${usage(synopsis, command.flags)}\n\n${command.details}`;
  };
  return {
    name: command.name,
    help,
    async main(argv, io) {
      const parsed = parseFlags(command.flags, argv, io.env, actions);
      if (parsed.help) {
        io.out(help());
        return EXIT.ok;
      }
      const { errors } = parsed;
      // A missing or unknown action is already an error; there is nothing to check the flags for.
      if (parsed.action !== undefined || actions.length === 0) {
        // Without actions Action is `never`: no value is passed, and none is read.
        const input = command.input({ values: parsed.values, action: parsed.action as Action, given: parsed.given, env: io.env }, errors);
        if (errors.length === 0) return command.run(input, io);
      }
      io.err(`corridor ${command.name}: ${command.problemsAre === undefined ? '' : `${command.problemsAre}: `}${errors.join('; ')}`);
      return EXIT.usage;
    },
  };
}
