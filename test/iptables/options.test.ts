import t from 'tap';
import { parseIptablesOptions } from '../../src/iptables/index.js';

const ok = (argv: string[], env: NodeJS.ProcessEnv = {}) => {
  const result = parseIptablesOptions(argv, env);
  if (!result.ok) throw new Error(result.errors.join('; '));
  return result.options;
};
const errors = (argv: string[], env: NodeJS.ProcessEnv = {}) => {
  const result = parseIptablesOptions(argv, env);
  return result.ok ? [] : result.errors;
};

t.test('install takes the host IP, port and interface patterns from flags', async (t) => {
  t.same(ok(['install', '--host-ip', '10.0.1.5', '--port', '8181', '--interface', 'cali+']), {
    action: 'install',
    target: { hostIp: '10.0.1.5', port: 8181, interfaces: [{ name: 'cali+', negated: false }] },
    ipv6: 'auto',
    backend: 'path',
  });
});

t.test('several interfaces: comma-separated, repeated, or both; duplicates count once', async (t) => {
  const options = ok(['check', '--host-ip=10.0.1.5', '--interface', 'cali+,!eth0', '--interface', 'cni0', '--interface=cali+']);
  t.equal(options.action, 'check');
  if (options.action === 'check') {
    t.same(options.target.interfaces, [
      { name: 'cali+', negated: false },
      { name: 'eth0', negated: true },
      { name: 'cni0', negated: false },
    ]);
    t.equal(options.target.port, 8181, 'the default port');
  }
});

t.test('every flag also comes from CORRIDOR_<FLAG>, and a flag wins over its env var', async (t) => {
  const env = { CORRIDOR_HOST_IP: '10.0.1.5', CORRIDOR_PORT: '9000', CORRIDOR_INTERFACE: 'eni+,veth+' };
  t.same(ok(['install'], env), {
    action: 'install',
    target: { hostIp: '10.0.1.5', port: 9000, interfaces: [{ name: 'eni+', negated: false }, { name: 'veth+', negated: false }] },
    ipv6: 'auto',
    backend: 'path',
  });
  const overridden = ok(['install', '--port', '8181'], env);
  t.equal(overridden.action === 'install' && overridden.target.port, 8181);
});

t.test('remove needs no flags, and ignores the ones the DaemonSet passes anyway', async (t) => {
  t.same(ok(['remove']), { action: 'remove', ipv6: 'auto', backend: 'path' });
  t.same(ok(['remove'], { CORRIDOR_HOST_IP: '10.0.1.5', CORRIDOR_INTERFACE: 'eni+', CORRIDOR_HOST_IPV6: 'fd00:10::5' }), { action: 'remove', ipv6: 'auto', backend: 'path' });
  t.same(ok(['remove', '--ipv6', 'off']), { action: 'remove', ipv6: 'off', backend: 'path' });
});

t.test('bad values are all reported, each naming its flag', async (t) => {
  t.same(errors(['install', '--interface', 'cali+']), ['--host-ip (or CORRIDOR_HOST_IP) is required by install']);
  t.match(errors(['install', '--host-ip', '10.0.1.5']), [/--interface \(or CORRIDOR_INTERFACE\) is required by install/]);
  t.match(errors(['install', '--host-ip', 'node-a', '--port', '99999', '--interface', 'eth 0']), [
    /--port: "99999" is not a port/,
    /--host-ip: "node-a" is not an IPv4 address/,
    /--interface: "eth 0" is not an interface pattern/,
  ]);
  t.match(errors(['check', '--host-ip', 'fd00::1', '--interface', 'eni+']), [/not an IPv4 address/]);
  t.match(errors(['install', '--host-ip', '10.0.1.5', '--interface', 'eni+', '--port', '0']), [/--port: 0 is not a port a pod can be sent to/]);
  t.match(errors(['install', '--host-ip', '10.0.1.5', '--interface', 'eni+', '--chain', 'X']), [/unknown flag --chain/]);
  t.match(errors(['install', '--host-ip', '10.0.1.5', '--interface', ',']), [/--interface .* is required/], 'an empty list is no list');
});

t.test('--host-ipv6 takes one IPv6 address or status.hostIPs, and prints it as sockets do', async (t) => {
  const hostIpv6 = (value: string) => {
    const options = ok(['install', '--host-ip', '10.0.1.5', '--interface', 'eni+', '--host-ipv6', value]);
    return options.action === 'remove' ? 'n/a' : options.target.hostIpv6;
  };
  t.equal(hostIpv6('fd00:10::5'), 'fd00:10::5');
  t.equal(hostIpv6('FD00:10:0:0::5'), 'fd00:10::5', 'lower-case and compressed');
  t.equal(hostIpv6('10.0.1.5,2600:1f18:0:0::7'), '2600:1f18::7', 'the IPv6 one of status.hostIPs');
  t.equal(hostIpv6('10.0.1.5'), undefined, 'an IPv4-only node\'s status.hostIPs: none');
  t.equal(hostIpv6(''), undefined, 'empty: none');
  const fromEnv = ok(['install'], { CORRIDOR_HOST_IP: '10.0.1.5', CORRIDOR_INTERFACE: 'eni+', CORRIDOR_HOST_IPV6: '10.0.1.5,fd00:10::5' });
  t.equal(fromEnv.action !== 'remove' && fromEnv.target.hostIpv6, 'fd00:10::5', 'CORRIDOR_HOST_IPV6');
  const base = ['install', '--host-ip', '10.0.1.5', '--interface', 'eni+'];
  t.match(errors([...base, '--host-ipv6', 'node-a']), [/--host-ipv6: "node-a" is not an IP address/]);
  t.match(errors([...base, '--host-ipv6', 'fe80::1']), [/--host-ipv6: "fe80::1" is not an address pods can be sent to/]);
  t.match(errors([...base, '--ipv6', 'maybe']), [/--ipv6: "maybe" is not one of auto, on, off/]);
});

t.test('the action is required and must be one of install, check, remove', async (t) => {
  t.match(errors([]), [/an action is required: install, check, remove/]);
  t.match(errors(['flush']), [/unknown action "flush" \(install, check, remove\)/]);
  t.match(errors(['remove', 'now']), [/unexpected argument now/]);
});

t.test('--help is not an error', async (t) => {
  t.same(parseIptablesOptions(['--help'], {}), { ok: false, help: true, errors: [] });
});
