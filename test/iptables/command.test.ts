import t from 'tap';
import { runIptablesCommand } from '../../src/cli/iptables.js';
import { backendBinaries, IptablesUnavailableError, type IptablesRunner } from '../../src/iptables/index.js';
import { FakeIptables } from '../helpers/fake-iptables.js';

/** The command with fake iptables and ip6tables, its output captured. */
function command(iptables: FakeIptables, env: NodeJS.ProcessEnv = {}, ip6tables: IptablesRunner = new FakeIptables()) {
  const out: string[] = [];
  const err: string[] = [];
  const backends: string[] = [];
  const runners = (backend: string) => {
    backends.push(backend);
    return { runner: iptables, runner6: ip6tables };
  };
  const run = (argv: string[]) => runIptablesCommand(argv, { runners, env, out: (l) => out.push(l), err: (l) => err.push(l) });
  return { run, out, err, backends };
}

/** ip6tables on a node that has none: every call fails to start. */
const NO_IP6TABLES: IptablesRunner = {
  run: async () => {
    throw new IptablesUnavailableError('ip6tables', Object.assign(new Error('spawn ip6tables ENOENT'), { code: 'ENOENT' }));
  },
  restore: async () => {
    throw new IptablesUnavailableError('ip6tables', Object.assign(new Error('spawn ip6tables-restore ENOENT'), { code: 'ENOENT' }));
  },
};

const ENV = { CORRIDOR_HOST_IP: '10.0.1.5', CORRIDOR_INTERFACE: 'cali+' };

t.test('install, check, install again, remove, check: the exit codes the init container and probes rely on', async (t) => {
  const iptables = new FakeIptables();
  const { run, out, err } = command(iptables, ENV);
  t.equal(await run(['install']), 0);
  t.match(out.pop(), /^corridor iptables install: created nat chain CORRIDOR-IMDS .*; inserted the PREROUTING jump.*; created ip6tables filter chain CORRIDOR-IMDS with 1 REJECT rule/);
  t.equal(await run(['check']), 0);
  t.match(out.pop(), /^corridor iptables check: ok \(-i cali\+ -> 10\.0\.1\.5:8181; IPv6 -i cali\+ refused\)$/);
  t.equal(await run(['install']), 0);
  t.match(out.pop(), /already in place, nothing changed/);
  t.equal(await run(['remove']), 0);
  t.match(out.pop(), /deleted the PREROUTING jump to CORRIDOR-IMDS; deleted nat chain CORRIDOR-IMDS; deleted the INPUT jump to CORRIDOR-PORT; deleted filter chain CORRIDOR-PORT; deleted the ip6tables FORWARD jump to CORRIDOR-IMDS; deleted ip6tables filter chain CORRIDOR-IMDS$/);
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

t.test('with an IPv6 host address: DNAT for fd00:ec2::254 behind the REJECT, check agrees, remove takes both', async (t) => {
  const ip6tables = new FakeIptables();
  const { run, out, err } = command(new FakeIptables(), { ...ENV, CORRIDOR_HOST_IPV6: '10.0.1.5,FD00:10:0::5' }, ip6tables);
  t.equal(await run(['install']), 0, err.join('\n'));
  t.match(out.pop(), /created ip6tables filter chain CORRIDOR-IMDS with 1 REJECT rule\(s\).*; inserted the ip6tables FORWARD jump.*; created ip6tables nat chain CORRIDOR-IMDS with 1 DNAT rule\(s\) to \[fd00:10::5\]:8181; inserted the ip6tables PREROUTING jump/);
  t.same(ip6tables.rules('CORRIDOR-IMDS'), [['-d', 'fd00:ec2::254/128', '-p', 'tcp', '--dport', '80', '-i', 'cali+', '-j', 'DNAT', '--to-destination', '[fd00:10::5]:8181']]);
  t.equal(await run(['check']), 0);
  t.match(out.pop(), /ok \(-i cali\+ -> 10\.0\.1\.5:8181; IPv6 -i cali\+ -> \[fd00:10::5\]:8181\)$/);

  // The node lost its IPv6 address: back to REJECT only, and check says what differs before that.
  const { run: runV4Only, err: errV4Only, out: outV4Only } = command(new FakeIptables(), ENV, ip6tables);
  t.equal(await runV4Only(['check']), 1);
  t.match(errV4Only.pop(), /ip6tables nat chain CORRIDOR-IMDS exists but no IPv6 host address was given/);
  t.equal(await runV4Only(['install']), 0);
  t.match(outV4Only.pop(), /deleted the ip6tables PREROUTING jump to CORRIDOR-IMDS; deleted ip6tables nat chain CORRIDOR-IMDS/);
  t.notOk(ip6tables.rules('CORRIDOR-IMDS'), 'no nat chain');
  t.ok(ip6tables.rules('CORRIDOR-IMDS', 'filter'), 'the REJECT stays');
  t.same(errV4Only, []);
});

t.test('a node without ip6tables: install and check still succeed for IPv4 and warn about IPv6, unless IPv6 was asked for', async (t) => {
  const auto = command(new FakeIptables(), ENV, NO_IP6TABLES);
  t.equal(await auto.run(['install']), 0);
  t.match(auto.out.pop(), /created nat chain CORRIDOR-IMDS/);
  t.match(auto.err.pop(), /^corridor iptables install: WARNING: IPv6 not managed, pods may reach \[fd00:ec2::254\]:80 if this node has IPv6 .*cannot run ip6tables/);
  t.equal(await auto.run(['check']), 0);
  t.match(auto.out.pop(), /ok \(-i cali\+ -> 10\.0\.1\.5:8181; IPv6 not managed\)/);
  t.equal(await auto.run(['remove']), 0);

  const asked = command(new FakeIptables(), { ...ENV, CORRIDOR_IPV6: 'on' }, NO_IP6TABLES);
  t.equal(await asked.run(['install']), 1, '--ipv6 on');
  t.match(asked.err.pop(), /^corridor iptables install: cannot run ip6tables/);
  const withAddress = command(new FakeIptables(), { ...ENV, CORRIDOR_HOST_IPV6: 'fd00:10::5' }, NO_IP6TABLES);
  t.equal(await withAddress.run(['install']), 1, 'an IPv6 host address asks for IPv6');
  t.equal(await withAddress.run(['check']), 1);

  const off = command(new FakeIptables(), { ...ENV, CORRIDOR_IPV6: 'off' }, NO_IP6TABLES);
  t.equal(await off.run(['install']), 0);
  t.same(off.err, [], '--ipv6 off: no warning, ip6tables never called');
});

t.test('--help prints the flags with their env vars and exits 0', async (t) => {
  const { run, out } = command(new FakeIptables());
  t.equal(await run(['--help']), 0);
  t.match(out.join('\n'), /--interface .*\(repeatable\) \[CORRIDOR_INTERFACE\]/);
  t.match(out.join('\n'), /remove +deletes corridor's jump and chain/);
});

t.test('--iptables-backend (CORRIDOR_IPTABLES_BACKEND) picks the binaries: one image serves nft and legacy nodes', async (t) => {
  const { run, backends, err } = command(new FakeIptables(), ENV);
  t.equal(await run(['install']), 0);
  t.equal(await run(['check', '--iptables-backend', 'legacy']), 0);
  t.equal(await run(['remove', '--iptables-backend', 'nft']), 0);
  t.same(backends, ['path', 'legacy', 'nft'], 'path (iptables on PATH) unless told');
  t.equal(await run(['install', '--iptables-backend', 'xtables']), 2);
  t.match(err.pop(), /--iptables-backend: "xtables" is not one of path, nft, legacy/);
  t.same(backendBinaries('path'), { iptables: 'iptables', ip6tables: 'ip6tables' });
  t.same(backendBinaries('nft'), { iptables: 'iptables-nft', ip6tables: 'ip6tables-nft' });
  t.same(backendBinaries('legacy'), { iptables: 'iptables-legacy', ip6tables: 'ip6tables-legacy' });
});
