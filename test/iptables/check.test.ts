import t from 'tap';
import { checkRules, installRules, parseInterfacePattern, removeRules, type RedirectTarget } from '../../src/iptables/index.js';
import { FakeIptables } from '../helpers/fake-iptables.js';

const target = (hostIp: string, ...interfaces: string[]): RedirectTarget => ({
  hostIp,
  port: 8181,
  interfaces: interfaces.map((text) => {
    const result = parseInterfacePattern(text);
    if (!result.ok) throw new Error(result.error);
    return result.pattern;
  }),
});
const JUMP = ['-d', '169.254.169.254/32', '-p', 'tcp', '--dport', '80', '-j', 'CORRIDOR-IMDS'];

t.test('check passes after install and changes nothing', async (t) => {
  const iptables = new FakeIptables();
  await installRules(iptables, target('10.0.1.5', 'eni+', '!eth0'));
  const changes = iptables.changes;
  t.same(await checkRules(iptables, target('10.0.1.5', 'eni+', '!eth0')), []);
  t.equal(iptables.changes, changes, 'check only reads');
});

t.test('check on a node without corridor says the chain is missing', async (t) => {
  t.match(await checkRules(new FakeIptables(), target('10.0.1.5', 'eni+')), [/nat chain CORRIDOR-IMDS does not exist/]);
});

t.test('check after remove fails', async (t) => {
  const iptables = new FakeIptables();
  await installRules(iptables, target('10.0.1.5', 'eni+'));
  await removeRules(iptables);
  t.match(await checkRules(iptables, target('10.0.1.5', 'eni+')), [/does not exist/]);
});

t.test('check names each missing piece: the jump, a pattern\'s rule, a rule install would not write', async (t) => {
  const iptables = new FakeIptables();
  await installRules(iptables, target('10.0.1.5', 'eni+', 'cali+'));
  await iptables.run(['-t', 'nat', '-D', 'PREROUTING', ...JUMP]);
  t.match(await checkRules(iptables, target('10.0.1.5', 'eni+', 'cali+')), [/nat PREROUTING has no jump to CORRIDOR-IMDS/]);

  await installRules(iptables, target('10.0.1.5', 'eni+', 'cali+'));
  const problems = await checkRules(iptables, target('10.0.1.5', 'eni+', 'veth+'));
  t.equal(problems.length, 2);
  t.match(problems[0], /lacks the rule -i veth\+ -> 10\.0\.1\.5:8181/);
  t.match(problems[1], /holds 1 rule\(s\) install would not write \(all its rules: .*-i cali\+/);

  t.match(await checkRules(iptables, target('10.0.1.6', 'eni+', 'cali+')), [/lacks the rule -i eni\+ -> 10\.0\.1\.6:8181/, /lacks the rule -i cali\+/, /holds 2 rule\(s\)/], 'a different host IP is a mismatch');
});
