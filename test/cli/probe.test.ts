import t from 'tap';
import { createServer, type AddressInfo } from 'node:net';
import { probeCommand } from '../../src/cli/probe.js';
import { EXIT } from '../../src/cli/exit-codes.js';

function io() {
  const lines: string[] = [];
  return { lines, io: { env: {}, out: (text: string) => lines.push(text), err: (text: string) => lines.push(text) } };
}

t.test('corridor probe passes while the given process listens on the metadata address and port, and fails once it does not', async (t) => {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen({ host: '127.0.0.1', port: 0 }, resolve));
  const port = String((server.address() as AddressInfo).port);
  const argv = ['--host-ip', '127.0.0.1', '--port', port, '--pid', String(process.pid)];

  const serving = io();
  t.equal(await probeCommand.main(argv, serving.io), EXIT.ok);
  t.same(serving.lines, [`process ${process.pid} serves 127.0.0.1:${port}`]);

  await new Promise<void>((resolve) => server.close(() => resolve()));
  const closed = io();
  t.equal(await probeCommand.main(argv, closed.io), EXIT.no);
  t.same(closed.lines, [`process ${process.pid} does not listen on 127.0.0.1:${port} (yet)`]);
});

t.test('corridor probe reads the agent\'s own CORRIDOR_HOST_IP and CORRIDOR_PORT, as the exec probe in its container does', async (t) => {
  const { lines, io: base } = io();
  const code = await probeCommand.main(['--pid', String(process.pid)], { ...base, env: { CORRIDOR_HOST_IP: '127.0.0.1', CORRIDOR_PORT: '9' } });
  t.equal(code, EXIT.no);
  t.same(lines, [`process ${process.pid} does not listen on 127.0.0.1:9 (yet)`]);
  const missing = io();
  t.equal(await probeCommand.main([], missing.io), EXIT.usage, 'no host IP: a usage error');
});
