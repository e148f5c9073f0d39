import t from 'tap';
import { parseFlags, type FlagSpec } from '../../src/config/flags.js';

const SPECS = [
  { name: 'paths', kind: 'list', default: '/a,/b', help: '' },
  { name: 'wait', kind: 'duration', default: '1s', help: '' },
  { name: 'port', kind: 'port', default: '8181', help: '' },
  { name: 'limit', kind: 'integer', default: '100', help: '' },
  { name: 'strict', kind: 'boolean', default: 'false', help: '' },
  { name: 'upstream', kind: 'string', default: 'http://x', help: '' },
  { name: 'prefix', kind: 'string', help: '' },
] as const satisfies readonly FlagSpec[];

t.test('unset means the default, from neither flag nor environment', async (t) => {
  const { values, given, errors } = parseFlags(SPECS, [], {});
  t.same(errors, []);
  t.same(values.paths, ['/a', '/b']);
  t.equal(values.wait, 1000);
  t.equal(values.prefix, undefined);
  t.same([...given], [], 'nothing was given');
});

t.test('an empty list flag or variable is an empty list, not the default', async (t) => {
  for (const [argv, env] of [[['--paths='], {}], [['--paths', ''], {}], [[], { CORRIDOR_PATHS: '' }]] as const) {
    const { values, given, errors } = parseFlags(SPECS, argv, env);
    t.same(errors, [], JSON.stringify({ argv, env }));
    t.same(values.paths, [], JSON.stringify({ argv, env }));
    t.ok(given.has('paths'));
  }
});

t.test('an empty value for any other kind is an error that says how to get the default, from a flag or the environment', async (t) => {
  const fromFlags = parseFlags(SPECS, ['--wait=', '--port=', '--limit=', '--strict=', '--upstream=', '--prefix='], {});
  t.same(fromFlags.errors, [
    '--wait: empty value (leave the flag out for the default, 1s)',
    '--port: empty value (leave the flag out for the default, 8181)',
    '--limit: empty value (leave the flag out for the default, 100)',
    '--strict: empty value (leave the flag out for the default, false)',
    '--upstream: empty value (leave the flag out for the default, http://x)',
    '--prefix: empty value (leave the flag out to set none)',
  ]);
  const fromEnv = parseFlags(SPECS, [], { CORRIDOR_WAIT: '', CORRIDOR_PORT: '', CORRIDOR_LIMIT: '', CORRIDOR_STRICT: '', CORRIDOR_UPSTREAM: '', CORRIDOR_PREFIX: '' });
  t.same(fromEnv.errors, [
    '--wait: empty value in CORRIDOR_WAIT (unset it for the default, 1s)',
    '--port: empty value in CORRIDOR_PORT (unset it for the default, 8181)',
    '--limit: empty value in CORRIDOR_LIMIT (unset it for the default, 100)',
    '--strict: empty value in CORRIDOR_STRICT (unset it for the default, false)',
    '--upstream: empty value in CORRIDOR_UPSTREAM (unset it for the default, http://x)',
    '--prefix: empty value in CORRIDOR_PREFIX (unset it to set none)',
  ]);
});

t.test('a required flag given empty is refused as empty', async (t) => {
  const specs: FlagSpec[] = [{ name: 'node-name', kind: 'string', required: true, help: '' }];
  t.same(parseFlags(specs, [], { CORRIDOR_NODE_NAME: '' }).errors, ['--node-name: empty value in CORRIDOR_NODE_NAME']);
  t.same(parseFlags(specs, ['--node-name='], {}).errors, ['--node-name: empty value']);
});

t.test('a flag given on the command line or in the environment is reported as given, even with its default value', async (t) => {
  t.same([...parseFlags(SPECS, ['--port', '8181'], { CORRIDOR_WAIT: '1s' }).given].sort(), ['port', 'wait']);
});

t.test('a flag with a bad value holds its default, so checks across flags run on typed values; the error is reported', async (t) => {
  const { values, errors } = parseFlags(SPECS, ['--wait', 'soon', '--port', 'http', '--limit=-1'], {});
  t.same(errors, ['--wait: "soon" is not a duration (like 90s, 15m, 1h or seconds)', '--port: "http" is not a port (0-65535)', '--limit: "-1" is not a whole number']);
  t.same([values.wait, values.port, values.limit], [1000, 8181, 100]);
});

t.test('a flag with choices takes only those, and an action is the first argument', async (t) => {
  const specs = [{ name: 'mode', kind: 'string', default: 'auto', choices: ['auto', 'on', 'off'], help: '' }] as const satisfies readonly FlagSpec[];
  const on = parseFlags(specs, ['install', '--mode', 'on'], {}, ['install', 'remove']);
  t.same([on.values.mode, on.action, on.errors], ['on', 'install', []]);
  const bad = parseFlags(specs, ['flush', 'now', '--mode', 'maybe'], {}, ['install', 'remove']);
  t.same([bad.values.mode, bad.action, bad.errors], ['auto', undefined, ['unknown action "flush" (install, remove)', '--mode: "maybe" is not one of auto, on, off', 'unexpected argument now']]);
});
