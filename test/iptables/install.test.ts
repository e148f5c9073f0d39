import t from 'tap';
import { checkRules, installRules, parseInterfacePattern, type InterfacePattern, type RedirectTarget } from '../../src/iptables/index.js';
import { FakeIptables } from '../helpers/fake-iptables.js';

const pattern = (text: string): InterfacePattern => {
  const result = parseInterfacePattern(text);
  if (!result.ok) throw new Error(result.error);
  return result.pattern;
};
const target = (hostIp = '10.0.1.5', ...interfaces: string[]): RedirectTarget => ({
  hostIp,
  port: 8181,
  interfaces: (interfaces.length > 0 ? interfaces : ['cali+']).map(pattern),
});
const JUMP = ['-d', '169.254.169.254/32', '-p', 'tcp', '--dport', '80', '-j', 'CORRIDOR-IMDS'];
const dnat = (iface: string[], to = '10.0.1.5:8181') => ['-d', '169.254.169.254/32', '-p', 'tcp', '--dport', '80', ...iface, '-j', 'DNAT', '--to-destination', to];

// A node as kube-proxy leaves it: its own chain and jump in nat PREROUTING.
const KUBE_PROXY_NODE = '*nat\n:KUBE-SERVICES - [0:0]\n-A PREROUTING -j KUBE-SERVICES\nCOMMIT\n';

t.test('install on a clean node: corridor\'s chain with one DNAT per pattern, jumped to first from PREROUTING', async (t) => {
  const iptables = new FakeIptables(KUBE_PROXY_NODE);
  const changes = await installRules(iptables, target('10.0.1.5', 'cali+', '!eth0'));
  t.equal(changes.length, 4, 'the nat chain and its jump, the port guard and its jump');
  t.same(iptables.rules('CORRIDOR-IMDS'), [dnat(['-i', 'cali+']), dnat(['!', '-i', 'eth0'])]);
  t.same(iptables.rules('PREROUTING'), [JUMP, ['-j', 'KUBE-SERVICES']], 'corridor\'s jump comes before kube-proxy\'s, which stays');
  t.same(iptables.rules('KUBE-SERVICES'), [], 'other chains are untouched');
  t.same(await checkRules(iptables, target('10.0.1.5', 'cali+', '!eth0')), [], 'check agrees');
});

t.test('install twice changes nothing the second time', async (t) => {
  const iptables = new FakeIptables(KUBE_PROXY_NODE);
  await installRules(iptables, target('10.0.1.5', 'cali+', 'eni+'));
  const before = iptables.save();
  const changesBefore = iptables.changes;
  t.same(await installRules(iptables, target('10.0.1.5', 'cali+', 'eni+')), [], 'reports nothing changed');
  t.equal(iptables.changes, changesBefore, 'no command changed the table');
  t.equal(iptables.save(), before, 'the table is the same');
});

t.test('the jump never exists while corridor\'s chain lacks a rule (fail closed during install)', async (t) => {
  const iptables = new FakeIptables(KUBE_PROXY_NODE);
  const wanted = target('10.0.1.5', 'cali+', 'eni+');
  await installRules(iptables, wanted);
  await installRules(iptables, target('10.0.9.9', 'veth+'));
  await installRules(iptables, wanted);
  t.ok(iptables.history.length >= 4);
  for (const state of iptables.history) {
    const jumps = state.includes('-A PREROUTING -d 169.254.169.254/32 -p tcp --dport 80 -j CORRIDOR-IMDS');
    const dnats = state.split('\n').filter((l) => l.startsWith('-A CORRIDOR-IMDS')).length;
    t.ok(!jumps || dnats > 0, `state after each change: ${jumps ? `jump with ${dnats} DNAT rule(s)` : 'no jump yet'}`);
  }
});

t.test('a changed host IP or interface list replaces the chain\'s rules in one step, jump kept', async (t) => {
  const iptables = new FakeIptables(KUBE_PROXY_NODE);
  await installRules(iptables, target('10.0.1.5', 'cali+', 'eni+'));
  const changesBefore = iptables.changes;
  const changes = await installRules(iptables, target('10.0.1.6', 'veth+'));
  t.match(changes, [/rewrote nat chain CORRIDOR-IMDS with 1 DNAT rule\(s\) to 10\.0\.1\.6:8181/, /rewrote filter chain CORRIDOR-PORT with 1 REJECT rule\(s\) for what reaches 10\.0\.1\.6:8181 without the DNAT/]);
  t.equal(iptables.changes - changesBefore, 2, 'one atomic change per chain');
  t.same(iptables.rules('CORRIDOR-IMDS'), [dnat(['-i', 'veth+'], '10.0.1.6:8181')], 'old rules are gone');
  t.same(iptables.rules('PREROUTING'), [JUMP, ['-j', 'KUBE-SERVICES']], 'still one jump');
});

t.test('install repairs what someone deleted by hand, and only that', async (t) => {
  const wanted = target('10.0.1.5', 'cali+');
  const iptables = new FakeIptables(KUBE_PROXY_NODE);
  await installRules(iptables, wanted);
  await iptables.run(['-t', 'nat', '-D', 'PREROUTING', ...JUMP]);
  const chainBefore = iptables.rules('CORRIDOR-IMDS');
  t.match(await installRules(iptables, wanted), [/inserted the PREROUTING jump/]);
  t.same(iptables.rules('CORRIDOR-IMDS'), chainBefore, 'the chain was left alone');
  t.same(iptables.rules('PREROUTING')?.[0], JUMP, 'the jump is back in first place');

  await iptables.run(['-t', 'nat', '-F', 'CORRIDOR-IMDS']);
  t.match(await installRules(iptables, wanted), [/rewrote nat chain/]);
  t.same(await checkRules(iptables, wanted), []);
});

t.test('a rule someone added to corridor\'s chain is dropped by the next install', async (t) => {
  const wanted = target('10.0.1.5', 'cali+');
  const iptables = new FakeIptables(KUBE_PROXY_NODE);
  await installRules(iptables, wanted);
  await iptables.run(['-t', 'nat', '-A', 'CORRIDOR-IMDS', '-i', 'eth0', '-j', 'RETURN']);
  t.match(await installRules(iptables, wanted), [/rewrote nat chain/]);
  t.same(iptables.rules('CORRIDOR-IMDS'), [dnat(['-i', 'cali+'])]);
});

t.test('an iptables failure stops install with the command and iptables\' message', async (t) => {
  const iptables = new FakeIptables(KUBE_PROXY_NODE);
  iptables.failures.push({ match: (args) => args[0] === 'iptables-restore', result: { code: 4, stdout: '', stderr: 'iptables-restore: Permission denied (you must be root)\n' } });
  await t.rejects(installRules(iptables, target()), /iptables-restore --noflush \(chain CORRIDOR-IMDS\) failed \(exit 4\): iptables-restore: Permission denied/);
  t.same(iptables.rules('PREROUTING'), [['-j', 'KUBE-SERVICES']], 'no jump to a chain that was never filled');
});

const GUARD_JUMP = ['-p', 'tcp', '-m', 'tcp', '--dport', '8181', '-j', 'CORRIDOR-PORT'];
const guard = (hostAddress = '10.0.1.5/32') => ['-d', hostAddress, '-p', 'tcp', '-m', 'conntrack', '!', '--ctstate', 'DNAT', '-m', 'addrtype', '!', '--src-type', 'LOCAL', '-j', 'REJECT', '--reject-with', 'tcp-reset'];

t.test('install guards the agent\'s port: what reaches it without the DNAT, and not from the node itself, is refused', async (t) => {
  const iptables = new FakeIptables('*filter\n:KUBE-FIREWALL - [0:0]\n-A INPUT -j KUBE-FIREWALL\nCOMMIT\n');
  const changes = await installRules(iptables, target('10.0.1.5', 'cali+'));
  t.match(changes.slice(2), [/created filter chain CORRIDOR-PORT with 1 REJECT rule/, /inserted the INPUT jump to CORRIDOR-PORT for the agent's port 8181/]);
  t.same(iptables.rules('CORRIDOR-PORT', 'filter'), [guard()]);
  t.same(iptables.rules('INPUT', 'filter'), [GUARD_JUMP, ['-j', 'KUBE-FIREWALL']], 'jumped to first, other INPUT rules kept');
  t.same(await checkRules(iptables, target('10.0.1.5', 'cali+')), []);

  await iptables.run(['-t', 'filter', '-D', 'INPUT', ...GUARD_JUMP]);
  t.match(await checkRules(iptables, target('10.0.1.5', 'cali+')), [/filter INPUT has no jump to CORRIDOR-PORT .* any pod of the cluster reaches the agent's port 8181 directly/], 'check names a missing guard');
  t.match(await installRules(iptables, target('10.0.1.5', 'cali+')), [/inserted the INPUT jump to CORRIDOR-PORT/], 'install puts it back');
});
