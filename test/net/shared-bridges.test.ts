import t, { type Test } from 'tap';
import { reportSharedBridges, sharedBridges } from '../../src/net/index.js';
import { FakeTime } from '../helpers/fake-time.js';

/** A /sys/class/net tree: each interface's ifindex and iflink (a veth's peer is elsewhere), and a bridge's ports. */
function sysClassNet(t: Test, interfaces: Record<string, { ifindex: number; iflink: number; ports?: string[] }>): string {
  const tree: Parameters<Test['testdir']>[0] & object = {};
  for (const [name, { ifindex, iflink, ports }] of Object.entries(interfaces)) {
    tree[name] = {
      ifindex: `${ifindex}\n`,
      iflink: `${iflink}\n`,
      ...(ports ? { bridge: {}, brif: Object.fromEntries(ports.map((port) => [port, ''])) } : {}),
    };
  }
  return t.testdir(tree);
}

t.test('a bridge with pods\' veths as ports is shared L2; routed veths, a bridge of physical ports and an empty bridge are not', async (t) => {
  const dir = sysClassNet(t, {
    lo: { ifindex: 1, iflink: 1 },
    eth0: { ifindex: 2, iflink: 2 },
    cni0: { ifindex: 3, iflink: 3, ports: ['veth1a2b', 'veth3c4d'] },
    veth1a2b: { ifindex: 5, iflink: 4 },
    veth3c4d: { ifindex: 7, iflink: 6 },
    cali12345: { ifindex: 9, iflink: 8 },
    br0: { ifindex: 10, iflink: 10, ports: ['eth1'] },
    eth1: { ifindex: 11, iflink: 11 },
    docker0: { ifindex: 12, iflink: 12, ports: [] },
  });
  t.same(sharedBridges(dir), [{ bridge: 'cni0', podPorts: 2 }]);
  t.same(sharedBridges(`${dir}/missing`), [], 'no sysfs: nothing claimed');
});

t.test('the report sets the gauge, warns once when a shared bridge appears (a new node\'s CNI makes it with the first pod), and checks again every minute', async (t) => {
  const time = new FakeTime();
  let bridges: Array<{ bridge: string; podPorts: number }> = [];
  let gauge = -1;
  const warnings: object[] = [];
  const report = reportSharedBridges({
    gauge: { set: (value) => (gauge = value) },
    logger: { warn: (fields) => warnings.push(fields), info: () => undefined },
    scheduler: time,
    read: () => bridges,
  });
  t.teardown(() => report.stop());
  t.same([gauge, warnings.length], [0, 0], 'a routed node: 0, quietly');
  bridges = [{ bridge: 'cni0', podPorts: 1 }];
  await time.advance(60_000);
  t.same([gauge, warnings], [1, [{ bridges }]], 'the bridge appears: the gauge and one warning');
  bridges = [{ bridge: 'cni0', podPorts: 5 }];
  await time.advance(120_000);
  t.equal(warnings.length, 1, 'more pods on the same bridge: no new warning');
});
