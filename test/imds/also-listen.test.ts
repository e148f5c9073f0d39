import t from 'tap';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { alsoListen, closeListener } from '../../src/imds/index.js';

function get(host: string, port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    http.get({ host, port, path: '/', agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (chunk: string) => (body += chunk)).on('end', () => resolve(body));
    }).on('error', reject);
  });
}

t.test('a second address (IPv6) hands its connections to the same server, its connection listeners included', async (t) => {
  const seen: string[] = [];
  const server = http.createServer((req, res) => res.end(`hello ${req.socket.remoteAddress}`));
  server.on('connection', (socket) => seen.push(socket.remoteAddress ?? ''));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const v6 = await alsoListen(server, '::1', 0).catch((error: NodeJS.ErrnoException) => error);
  if (v6 instanceof Error) {
    server.close();
    t.comment(`skipped: no ::1 on this machine: ${v6.code}`);
    return;
  }
  t.teardown(async () => {
    await closeListener(v6);
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });
  t.equal((v6.address() as AddressInfo).port, port, 'port 0: the server\'s own port');
  t.equal(await get('::1', port), 'hello ::1', 'the caller is its IPv6 address, as the pod index knows it');
  t.equal(await get('127.0.0.1', port), 'hello 127.0.0.1');
  t.same(seen, ['::1', '127.0.0.1'], 'per-caller connection limits see both');
  await closeListener(v6);
  await t.rejects(get('::1', port), { code: 'ECONNREFUSED' }, 'closed: no longer accepting on IPv6');
});
