import t from 'tap';
import { installRules, parseInterfacePattern, removeRules, type RedirectTarget } from '../../src/iptables/index.js';
import { FakeIptables } from '../helpers/fake-iptables.js';

const eni = parseInterfacePattern('eni+');
if (!eni.ok) throw new Error(eni.error);
const TARGET: RedirectTarget = { hostIp: '10.0.1.5', port: 8181, interfaces: [eni.pattern] };
const JUMP = ['-d', '169.254.169.254/32', '-p', 'tcp', '--dport', '80', '-j', 'CORRIDOR-IMDS'];
const KUBE_PROXY_NODE = '*nat\n:KUBE-SERVICES - [0:0]\n-A PREROUTING -j KUBE-SERVICES\n-A KUBE-SERVICES -d 10.96.0.1/32 -p tcp --dport 443 -j DNAT --to-destination 10.0.0.10:6443\nCOMMIT\n';

t.test('remove deletes corridor\'s jump and chain and leaves everything else as it was', async (t) => {
  const iptables = new FakeIptables(KUBE_PROXY_NODE);
  const untouched = iptables.save();
  await installRules(iptables, TARGET);
  t.same(await removeRules(iptables), ['deleted the PREROUTING jump to CORRIDOR-IMDS', 'deleted nat chain CORRIDOR-IMDS', 'deleted the INPUT jump to CORRIDOR-PORT', 'deleted filter chain CORRIDOR-PORT']);
  t.equal(iptables.save(), untouched);
  t.same(iptables.rules('INPUT', 'filter'), [], 'filter INPUT as it was');
});

t.test('remove twice: the second finds nothing and changes nothing', async (t) => {
  const iptables = new FakeIptables(KUBE_PROXY_NODE);
  await installRules(iptables, TARGET);
  await removeRules(iptables);
  const changes = iptables.changes;
  t.same(await removeRules(iptables), []);
  t.equal(iptables.changes, changes);
});

t.test('remove deletes every copy of the jump a hand-made install may have added', async (t) => {
  const iptables = new FakeIptables(KUBE_PROXY_NODE);
  await installRules(iptables, TARGET);
  await iptables.run(['-t', 'nat', '-A', 'PREROUTING', ...JUMP]);
  t.same(await removeRules(iptables), ['deleted the PREROUTING jump to CORRIDOR-IMDS (2 copies)', 'deleted nat chain CORRIDOR-IMDS', 'deleted the INPUT jump to CORRIDOR-PORT', 'deleted filter chain CORRIDOR-PORT']);
  t.notOk(iptables.rules('CORRIDOR-IMDS'));
});

t.test('remove deletes the port guard\'s jumps whatever port they were installed for (remove is given no port)', async (t) => {
  const iptables = new FakeIptables(KUBE_PROXY_NODE);
  await installRules(iptables, TARGET);
  await installRules(iptables, { ...TARGET, port: 18181 });
  t.equal(iptables.rules('INPUT', 'filter')?.length, 2, 'an upgrade to another port left the old jump');
  t.same((await removeRules(iptables)).slice(2), ['deleted the INPUT jump to CORRIDOR-PORT (2 copies)', 'deleted filter chain CORRIDOR-PORT']);
  t.same(iptables.rules('INPUT', 'filter'), []);
});

t.test('a foreign rule still jumping to the chain stops remove with iptables\' reason; it is not ours to delete', async (t) => {
  const iptables = new FakeIptables(KUBE_PROXY_NODE);
  await installRules(iptables, TARGET);
  await iptables.run(['-t', 'nat', '-A', 'OUTPUT', '-d', '169.254.169.254/32', '-j', 'CORRIDOR-IMDS']);
  await t.rejects(removeRules(iptables), /iptables -t nat -X CORRIDOR-IMDS failed \(exit 4\).*busy/);
  t.same(iptables.rules('OUTPUT'), [['-d', '169.254.169.254/32', '-j', 'CORRIDOR-IMDS']]);
});
