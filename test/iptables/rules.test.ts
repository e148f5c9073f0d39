import t from 'tap';
import {
  chainRestoreInput,
  formatInterfacePattern,
  interfaceMatch,
  jumpRule,
  parseInterfacePattern,
  redirectRules,
  type InterfacePattern,
} from '../../src/iptables/index.js';

const pattern = (text: string): InterfacePattern => {
  const result = parseInterfacePattern(text);
  if (!result.ok) throw new Error(result.error);
  return result.pattern;
};

t.test('interface patterns in kube2iam\'s forms parse, and ! negates', async (t) => {
  t.same(pattern('cali+'), { name: 'cali+', negated: false });
  t.same(pattern('eni+'), { name: 'eni+', negated: false });
  t.same(pattern('cni0'), { name: 'cni0', negated: false });
  t.same(pattern('veth+'), { name: 'veth+', negated: false });
  t.same(pattern('!eth0'), { name: 'eth0', negated: true });
  t.same(pattern(' ! eth0 '), { name: 'eth0', negated: true }, 'blanks around ! are tolerated');
  t.same(pattern('+'), { name: '+', negated: false }, 'iptables\' "any interface" wildcard');
  t.equal(formatInterfacePattern(pattern('!eth0')), '!eth0');
});

t.test('names iptables or Linux would not take are refused with the reason', async (t) => {
  for (const bad of ['', '!', 'a+b', 'eth 0', 'eth0/1', 'cali++', 'averyveryverylong0', '-j ACCEPT', '!!eth0', 'eth0;reboot']) {
    const result = parseInterfacePattern(bad);
    t.equal(result.ok, false, `"${bad}" is refused`);
    if (!result.ok) t.match(result.error, /is not an interface pattern/);
  }
  t.equal(parseInterfacePattern('abcdefghijklmno+').ok, true, '15 characters plus the wildcard fit IFNAMSIZ');
});

t.test('a negated pattern becomes "! -i name", a plain one "-i name"', async (t) => {
  t.same(interfaceMatch(pattern('cali+')), ['-i', 'cali+']);
  t.same(interfaceMatch(pattern('!eth0')), ['!', '-i', 'eth0']);
});

t.test('only TCP to 169.254.169.254:80 jumps to corridor\'s chain', async (t) => {
  t.same(jumpRule(), ['-d', '169.254.169.254/32', '-p', 'tcp', '--dport', '80', '-j', 'CORRIDOR-IMDS']);
});

t.test('each interface pattern gets its own DNAT rule to the agent, in the order given', async (t) => {
  const rules = redirectRules({ hostIp: '10.0.1.5', port: 8181, interfaces: [pattern('cali+'), pattern('!eth0'), pattern('cni0')] });
  t.same(rules, [
    ['-d', '169.254.169.254/32', '-p', 'tcp', '--dport', '80', '-i', 'cali+', '-j', 'DNAT', '--to-destination', '10.0.1.5:8181'],
    ['-d', '169.254.169.254/32', '-p', 'tcp', '--dport', '80', '!', '-i', 'eth0', '-j', 'DNAT', '--to-destination', '10.0.1.5:8181'],
    ['-d', '169.254.169.254/32', '-p', 'tcp', '--dport', '80', '-i', 'cni0', '-j', 'DNAT', '--to-destination', '10.0.1.5:8181'],
  ]);
});

t.test('the restore input declares the chain (create or empty) and fills it in one COMMIT', async (t) => {
  const rules = redirectRules({ hostIp: '10.0.1.5', port: 8181, interfaces: [pattern('eni+')] });
  t.equal(
    chainRestoreInput('CORRIDOR-IMDS', rules),
    '*nat\n:CORRIDOR-IMDS - [0:0]\n-A CORRIDOR-IMDS -d 169.254.169.254/32 -p tcp --dport 80 -i eni+ -j DNAT --to-destination 10.0.1.5:8181\nCOMMIT\n',
  );
});
