import t from 'tap';
import { defineCommand, type CommandIo } from '../../src/cli/command.js';
import { EXIT } from '../../src/cli/exit-codes.js';
import type { FlagSpec } from '../../src/config/index.js';

const FLAGS = [
  { name: 'pod-name', kind: 'string', required: true, help: 'the pod' },
  { name: 'wait', kind: 'duration', default: '2s', help: 'how long' },
  { name: 'mode', kind: 'string', default: 'fast', choices: ['fast', 'slow'], help: 'how' },
  { name: 'label', kind: 'list', repeatable: true, help: 'labels' },
] as const satisfies readonly FlagSpec[];

/** A command that records what it was given, and an io that records what it wrote. */
function setup(env: NodeJS.ProcessEnv = {}) {
  const ran: unknown[] = [];
  const out: string[] = [];
  const err: string[] = [];
  const io: CommandIo = { env, out: (text) => out.push(text), err: (text) => err.push(text) };
  const command = defineCommand({
    name: 'probe',
    actions: ['start', 'stop'],
    flags: FLAGS,
    details: 'start  begins\nstop   ends',
    problemsAre: 'bad probe',
    input: ({ values, action, given }, errors) => {
      if (values.mode === 'slow' && values.wait < 5000) errors.push('--wait must be at least 5s in slow mode');
      return { action, podName: values.podName, waitMs: values.wait, mode: values.mode, labels: values.label ?? [], waitGiven: given.has('wait') };
    },
    run: async (input) => {
      ran.push(input);
      return input.action === 'start' ? EXIT.ok : EXIT.no;
    },
  });
  return { ran, out, err, main: (argv: string[]) => command.main(argv, io) };
}

t.test('a command gets its flags as one typed object keyed by the table, from flags, CORRIDOR_ variables and defaults, and its exit code is the command\'s', async (t) => {
  const { ran, out, err, main } = setup({ CORRIDOR_MODE: 'slow', CORRIDOR_WAIT: '10s' });
  t.equal(await main(['start', '--pod-name', 'driver', '--label', 'a,b', '--label=c']), EXIT.ok);
  t.same(ran, [{ action: 'start', podName: 'driver', waitMs: 10_000, mode: 'slow', labels: ['a', 'b', 'c'], waitGiven: true }]);
  t.equal(await main(['stop', '--pod-name', 'driver', '--mode', 'fast', '--wait', '1s']), EXIT.no);
  t.same([out, err], [[], []], 'the runner itself writes nothing when the command runs');
});

t.test('--help prints the usage line, every flag with its variable and default, and the details; exit 0, nothing runs', async (t) => {
  const { ran, out, main } = setup();
  t.equal(await main(['--help']), EXIT.ok);
  t.equal(out.length, 1);
  t.match(out[0], /^usage: corridor probe start\|stop \[flags\]\n/);
  t.match(out[0], /--pod-name +the pod \(required\) \[CORRIDOR_POD_NAME\]/);
  t.match(out[0], /--wait +how long \(default 2s\) \[CORRIDOR_WAIT\]/);
  t.match(out[0], /--label +labels \(repeatable\) \[CORRIDOR_LABEL\]/);
  t.match(out[0], /\n\nstart {2}begins\nstop {3}ends$/);
  t.same(ran, []);
});

t.test('every problem, from the table and from the command\'s own checks, is one line on stderr and exit 2; nothing runs', async (t) => {
  const { ran, out, err, main } = setup({ CORRIDOR_WAIT: '1s' });
  t.equal(await main(['start', '--mode', 'slow', '--bogus', 'extra']), EXIT.usage);
  t.same(err, ['corridor probe: bad probe: unknown flag --bogus; --pod-name (or CORRIDOR_POD_NAME) is required; unexpected argument extra; --wait must be at least 5s in slow mode']);
  t.same([out, ran], [[], []]);

  const values = setup({ CORRIDOR_WAIT: 'soon' });
  t.equal(await values.main(['start', '--pod-name', 'p', '--mode', 'warp']), EXIT.usage);
  t.same(values.err, ['corridor probe: bad probe: --wait: "soon" is not a duration (like 90s, 15m, 1h or seconds); --mode: "warp" is not one of fast, slow']);
});

t.test('a missing or unknown action is a usage error named first; the command\'s checks do not run without one', async (t) => {
  const missing = setup();
  t.equal(await missing.main(['--pod-name', 'p', '--wait', 'x']), EXIT.usage);
  t.same(missing.err, ['corridor probe: bad probe: an action is required: start, stop; --wait: "x" is not a duration (like 90s, 15m, 1h or seconds)']);
  const unknown = setup();
  t.equal(await unknown.main(['restart', '--pod-name', 'p', '--mode', 'slow', '--wait', '1s']), EXIT.usage);
  t.same(unknown.err, ['corridor probe: bad probe: unknown action "restart" (start, stop)'], 'no "at least 5s": input was not asked');
});

t.test('a flag name that is not in the table does not compile', async (t) => {
  const command = defineCommand({
    name: 'typed',
    flags: FLAGS,
    input: ({ values }) => {
      // @ts-expect-error `podname` is not a flag of this table (`pod-name` is `podName`)
      const misspelled: unknown = values.podname;
      const wait: number = values.wait;
      const mode: 'fast' | 'slow' = values.mode;
      // @ts-expect-error a list flag without a default may be unset
      const labels: readonly string[] = values.label;
      return { misspelled, wait, mode, labels };
    },
    run: async () => EXIT.ok,
  });
  t.equal(command.name, 'typed', 'checked by tsc -p tsconfig.json');
});
