import t from 'tap';
import { runIptablesCommand } from '../../src/cli/iptables.js';
import { FakeIptables } from '../helpers/fake-iptables.js';

/** The command with the fake nat table, its output captured. */
function command(iptables: FakeIptables, env: NodeJS.ProcessEnv = {}) {
  const out: string[] = [];
  const err: string[] = [];
  const run = (argv: string[]) => runIptablesCommand(argv, { runner: iptables, env, out: (l) => out.push(l), err: (l) => err.push(l) });
  return { run, out, err };
}

const ENV = { CORRIDOR_HOST_IP: '10.0.1.5', CORRIDOR_INTERFACE: 'cali+' };

t.test('install, check, install again, remove, check: the exit codes the init container and probes rely on', async (t) => {
  const iptables = new FakeIptables();
  const { run, out, err } = command(iptables, ENV);
  t.equal(await run(['install']), 0);
  t.match(out.pop(), /^corridor iptables install: created nat chain CORRIDOR-IMDS .*; inserted the PREROUTING jump/);
  t.equal(await run(['check']), 0);
  t.match(out.pop(), /^corridor iptables check: ok \(-i cali\+ -> 10\.0\.1\.5:8181\)$/);
  t.equal(await run(['install']), 0);
  t.match(out.pop(), /already in place, nothing changed/);
  t.equal(await run(['remove']), 0);
  t.match(out.pop(), /deleted the PREROUTING jump to CORRIDOR-IMDS; deleted nat chain CORRIDOR-IMDS/);
  t.equal(await run(['check']), 1, 'check fails once the rules are gone');
  t.match(err.pop(), /^corridor iptables check: FAILED: nat chain CORRIDOR-IMDS does not exist/);
  t.equal(await run(['remove']), 0);
  t.match(out.pop(), /nothing of corridor's was installed/);
  t.same(err, []);
});

t.test('bad flags: one line naming every problem, exit 2, iptables untouched', async (t) => {
  const iptables = new FakeIptables();
  const { run, err } = command(iptables, { CORRIDOR_PORT: 'http' });
  t.equal(await run(['install', '--host-ip', '10.0.1', '--interface', 'eth0/1']), 2);
  t.equal(err.length, 1);
  t.match(err[0], /^corridor iptables: --port: "http" is not a port.*; --host-ip: "10\.0\.1" is not an IPv4 address.*; --interface: "eth0\/1" is not an interface pattern/);
  t.same(iptables.calls, [], 'nothing ran');
});

t.test('an iptables failure exits 1 with iptables\' own message', async (t) => {
  const iptables = new FakeIptables();
  iptables.failures.push({ match: (args) => args.includes('-S'), result: { code: 4, stdout: '', stderr: 'iptables v1.8.9 (nf_tables): Could not fetch rule set generation id: Permission denied (you must be root)\n' } });
  const { run, err } = command(iptables, ENV);
  t.equal(await run(['install']), 1);
  t.match(err.pop(), /^corridor iptables install: iptables -t nat -S CORRIDOR-IMDS failed \(exit 4\): .*you must be root/);
});

t.test('--help prints the flags with their env vars and exits 0', async (t) => {
  const { run, out } = command(new FakeIptables());
  t.equal(await run(['--help']), 0);
  t.match(out.join('\n'), /--interface .*\(repeatable\) \[CORRIDOR_INTERFACE\]/);
  t.match(out.join('\n'), /remove +deletes corridor's jump and chain/);
});
