import t from 'tap';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { listeningInodes, socketInodesOf, type ProcFiles } from '../../src/net/listeners.js';

async function listening(host: string): Promise<Server> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen({ host, port: 0 }, resolve));
  return server;
}

const close = (server: Server) => new Promise<void>((resolve) => server.close(() => resolve()));

t.test('a socket this process listens on is in the kernel\'s table for its exact address and port, and among this process\'s sockets', async (t) => {
  for (const host of ['127.0.0.1', '::1']) {
    const server = await listening(host);
    const { port } = server.address() as AddressInfo;
    const inodes = listeningInodes(host, port);
    t.equal(inodes.size, 1, `one listener on ${host}:${port}`);
    const own = socketInodesOf('self');
    t.ok([...inodes].every((inode) => own.has(inode)), 'it is this process\'s');
    t.equal(listeningInodes(host === '::1' ? '::2' : '127.0.0.3', port).size, 0, 'another address of the same port is not it');
    await close(server);
    t.equal(listeningInodes(host, port).size, 0, 'closed: gone');
  }
});

t.test('the kernel\'s address forms: IPv4 and IPv6 as words in host byte order, the port in hex; only LISTEN rows count', async (t) => {
  const tables: Record<string, string> = {
    '/proc/net/tcp': [
      '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode',
      '   0: 0200DE0A:1FF5 00000000:0000 0A 00000000:00000000 00:00000000 00000000 65532        0 4242 1 0000000000000000 100 0 0 10 0',
      '   1: 0200DE0A:1FF5 0500F40A:C350 01 00000000:00000000 00:00000000 00000000 65532        0 4343 1 0000000000000000 20 4 30 10 -1',
    ].join('\n'),
    '/proc/net/tcp6': [
      '  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode',
      '   0: B80D0120000000000000000005000000:1FF5 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000 65532        0 5151 1 0000000000000000 100 0 0 10 0',
    ].join('\n'),
  };
  const proc: ProcFiles = {
    readFile: (path) => tables[path] ?? '',
    readdir: () => ['0', '1', '2'],
    readlink: (path) => ({ '/proc/7/fd/0': '/dev/null', '/proc/7/fd/1': 'socket:[4242]', '/proc/7/fd/2': 'pipe:[9]' })[path] ?? '',
  };
  t.same([...listeningInodes('10.222.0.2', 8181, proc)], ['4242'], 'the listener, not the established connection on the same port');
  t.same([...listeningInodes('2001:db8::5', 8181, proc)], ['5151']);
  t.same([...socketInodesOf(7, proc)], ['4242'], 'sockets only, of that process');
});

t.test('a process that is gone (or not ours to read) holds no sockets', async (t) => {
  t.equal(socketInodesOf(2 ** 22 + 12345).size, 0);
});
