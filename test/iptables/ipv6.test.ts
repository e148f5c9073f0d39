import t from 'tap';
import { checkIpv6Rules, installIpv6Rules, parseInterfacePattern, removeIpv6Rules, type RedirectTarget } from '../../src/iptables/index.js';
import { FakeIptables } from '../helpers/fake-iptables.js';

const target = (hostIpv6: string | undefined, ...interfaces: string[]): RedirectTarget => ({
  hostIp: '10.0.1.5',
  port: 8181,
  hostIpv6,
  interfaces: (interfaces.length > 0 ? interfaces : ['eni+']).map((text) => {
    const result = parseInterfacePattern(text);
    if (!result.ok) throw new Error(result.error);
    return result.pattern;
  }),
});
const V6 = ['-d', 'fd00:ec2::254/128', '-p', 'tcp', '--dport', '80'];
const JUMP = [...V6, '-j', 'CORRIDOR-IMDS'];
const reject = (iface: string[]) => [...V6, ...iface, '-j', 'REJECT', '--reject-with', 'tcp-reset'];
const dnat = (iface: string[], to: string) => [...V6, ...iface, '-j', 'DNAT', '--to-destination', to];

// A node as kube-proxy and a CNI leave ip6tables: their own jumps in nat PREROUTING and filter FORWARD.
const NODE_NAT = '*nat\n:KUBE-SERVICES - [0:0]\n-A PREROUTING -j KUBE-SERVICES\nCOMMIT\n';
const NODE_FILTER = '*filter\n:KUBE-FORWARD - [0:0]\n-A FORWARD -j KUBE-FORWARD\nCOMMIT\n';
function node(): FakeIptables {
  const ip6tables = new FakeIptables(NODE_NAT);
  void ip6tables.restore(NODE_FILTER);
  return ip6tables;
}

/** In this saved state, is pods' traffic to fd00:ec2::254 caught (REJECTed or DNATed) by corridor? */
function closed(state: string): { rejected: boolean; redirected: boolean } {
  const lines = state.split('\n');
  const section = (table: string) => lines.slice(lines.indexOf(`*${table}`), lines.indexOf('COMMIT', lines.indexOf(`*${table}`)));
  const filter = lines.includes('*filter') ? section('filter') : [];
  const nat = section('nat');
  const first = (rules: string[], chain: string) => rules.find((l) => l.startsWith(`-A ${chain} `));
  return {
    rejected: first(filter, 'FORWARD') === `-A FORWARD ${JUMP.join(' ')}` && filter.some((l) => l.startsWith('-A CORRIDOR-IMDS') && l.includes('-j REJECT')),
    redirected: first(nat, 'PREROUTING') === `-A PREROUTING ${JUMP.join(' ')}` && nat.some((l) => l.startsWith('-A CORRIDOR-IMDS') && l.includes('-j DNAT')),
  };
}

t.test('without an IPv6 host address: a REJECT chain in filter, jumped to first from FORWARD, and nothing in nat', async (t) => {
  const ip6tables = node();
  const changes = await installIpv6Rules(ip6tables, target(undefined, 'eni+', '!eth0'));
  t.same(changes, [
    'created ip6tables filter chain CORRIDOR-IMDS with 2 REJECT rule(s) for [fd00:ec2::254]:80',
    'inserted the ip6tables FORWARD jump to CORRIDOR-IMDS for [fd00:ec2::254]:80',
  ]);
  t.same(ip6tables.rules('CORRIDOR-IMDS', 'filter'), [reject(['-i', 'eni+']), reject(['!', '-i', 'eth0'])]);
  t.same(ip6tables.rules('FORWARD', 'filter'), [JUMP, ['-j', 'KUBE-FORWARD']], 'before the CNI\'s own jump');
  t.notOk(ip6tables.rules('CORRIDOR-IMDS'), 'REJECT is not valid in nat, and no DNAT without an address');
  t.same(ip6tables.rules('PREROUTING'), [['-j', 'KUBE-SERVICES']]);
  t.same(await checkIpv6Rules(ip6tables, target(undefined, 'eni+', '!eth0')), []);
});

t.test('with an IPv6 host address: also a DNAT to [address]:port in nat PREROUTING', async (t) => {
  const ip6tables = node();
  const changes = await installIpv6Rules(ip6tables, target('fd00:10::5', 'eni+'));
  t.match(changes, [/filter chain/, /FORWARD jump/, 'created ip6tables nat chain CORRIDOR-IMDS with 1 DNAT rule(s) to [fd00:10::5]:8181', 'inserted the ip6tables PREROUTING jump to CORRIDOR-IMDS for [fd00:ec2::254]:80']);
  t.same(ip6tables.rules('CORRIDOR-IMDS'), [dnat(['-i', 'eni+'], '[fd00:10::5]:8181')]);
  t.same(ip6tables.rules('PREROUTING'), [JUMP, ['-j', 'KUBE-SERVICES']]);
  t.same(ip6tables.rules('CORRIDOR-IMDS', 'filter'), [reject(['-i', 'eni+'])], 'the REJECT stays behind the DNAT as a backstop');
  t.same(await checkIpv6Rules(ip6tables, target('fd00:10::5', 'eni+')), []);
});

t.test('install twice changes nothing the second time', async (t) => {
  const ip6tables = node();
  await installIpv6Rules(ip6tables, target('fd00:10::5', 'eni+', 'cali+'));
  const before = ip6tables.save();
  const changes = ip6tables.changes;
  t.same(await installIpv6Rules(ip6tables, target('fd00:10::5', 'eni+', 'cali+')), []);
  t.equal(ip6tables.changes, changes);
  t.equal(ip6tables.save(), before);
});

t.test('fail closed: from the first change to the last, install, a changed address, dropping it, and remove never leave fd00:ec2::254 open', async (t) => {
  const ip6tables = node();
  const start = ip6tables.changes;
  await installIpv6Rules(ip6tables, target('fd00:10::5', 'eni+'));
  await installIpv6Rules(ip6tables, target('fd00:10::9', 'veth+'));
  await installIpv6Rules(ip6tables, target(undefined, 'veth+'));
  await installIpv6Rules(ip6tables, target('fd00:10::5', 'eni+'));
  const removed = await removeIpv6Rules(ip6tables);
  const states = ip6tables.history.slice(start);
  t.ok(states.length >= 8);
  // The first change creates the REJECT chain (not yet jumped to); remove's last three delete
  // the FORWARD jump and then the chain: from there on the node is open again, as remove means.
  for (const [i, state] of states.entries()) {
    if (i === 0 || i >= states.length - 3) continue;
    const { rejected, redirected } = closed(state);
    t.ok(rejected || redirected, `state ${i}: ${rejected ? 'REJECT' : ''}${redirected ? ' DNAT' : ''}`);
  }
  t.ok(closed(states[1]!).rejected, 'the REJECT is in place before any DNAT');
  t.same(removed, [
    'deleted the ip6tables PREROUTING jump to CORRIDOR-IMDS',
    'deleted ip6tables nat chain CORRIDOR-IMDS',
    'deleted the ip6tables INPUT jump to CORRIDOR-PORT',
    'deleted ip6tables filter chain CORRIDOR-PORT',
    'deleted the ip6tables FORWARD jump to CORRIDOR-IMDS',
    'deleted ip6tables filter chain CORRIDOR-IMDS',
  ], 'remove takes the DNAT first, so its traffic meets the REJECT, and the REJECT last');
  t.same(ip6tables.save(), node().save(), 'the node\'s own rules are as they were');
});

t.test('check names each missing piece', async (t) => {
  const ip6tables = node();
  t.match(await checkIpv6Rules(ip6tables, target(undefined)), [/ip6tables filter chain CORRIDOR-IMDS does not exist, so nothing refuses pods' traffic/]);
  await installIpv6Rules(ip6tables, target('fd00:10::5', 'eni+'));
  await ip6tables.run(['-t', 'filter', '-D', 'FORWARD', ...JUMP]);
  await ip6tables.run(['-t', 'nat', '-D', 'PREROUTING', ...JUMP]);
  t.match(await checkIpv6Rules(ip6tables, target('fd00:10::5', 'eni+')), [
    /ip6tables filter FORWARD has no jump to CORRIDOR-IMDS for \[fd00:ec2::254\]:80, so pods reach the node's metadata service over IPv6 directly/,
    /ip6tables nat PREROUTING has no jump to CORRIDOR-IMDS/,
  ]);
  await installIpv6Rules(ip6tables, target('fd00:10::5', 'eni+'));
  t.match(await checkIpv6Rules(ip6tables, target('fd00:10::6', 'eni+')), [/ip6tables nat chain CORRIDOR-IMDS lacks the rule -i eni\+ -> \[fd00:10::6\]:8181/, /holds 1 rule\(s\) install would not write/]);
  t.match(await checkIpv6Rules(ip6tables, target(undefined, 'eni+')), [
    /ip6tables nat chain CORRIDOR-IMDS exists but no IPv6 host address was given/,
    /ip6tables filter chain CORRIDOR-PORT exists but no IPv6 host address was given/,
  ]);
});

t.test('with an IPv6 host address the agent\'s IPv6 port is guarded too; dropping the address removes the guard', async (t) => {
  const ip6tables = node();
  await installIpv6Rules(ip6tables, target('fd00:10::5', 'eni+'));
  t.same(ip6tables.rules('CORRIDOR-PORT', 'filter'), [['-d', 'fd00:10::5/128', '-p', 'tcp', '-m', 'conntrack', '!', '--ctstate', 'DNAT', '-m', 'addrtype', '!', '--src-type', 'LOCAL', '-j', 'REJECT', '--reject-with', 'tcp-reset']]);
  t.same(ip6tables.rules('INPUT', 'filter')?.[0], ['-p', 'tcp', '-m', 'tcp', '--dport', '8181', '-j', 'CORRIDOR-PORT']);
  t.same(await checkIpv6Rules(ip6tables, target('fd00:10::5', 'eni+')), []);
  await installIpv6Rules(ip6tables, target(undefined, 'eni+'));
  t.notOk(ip6tables.rules('CORRIDOR-PORT', 'filter'), 'no IPv6 address to guard');
  t.same(await checkIpv6Rules(ip6tables, target(undefined, 'eni+')), []);
});

t.test('an ip6tables failure stops install before any jump to an unfilled chain', async (t) => {
  const ip6tables = node();
  ip6tables.failures.push({ match: (args) => args[0] === 'iptables-restore', result: { code: 4, stdout: '', stderr: 'ip6tables-restore: Permission denied (you must be root)\n' } });
  await t.rejects(installIpv6Rules(ip6tables, target('fd00:10::5')), /ip6tables-restore --noflush \(filter chain CORRIDOR-IMDS\) failed \(exit 4\)/);
  t.same(ip6tables.rules('FORWARD', 'filter'), [['-j', 'KUBE-FORWARD']]);
  t.same(ip6tables.rules('PREROUTING'), [['-j', 'KUBE-SERVICES']], 'and no DNAT either');
});
