import t from 'tap';
import http from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { drainListeners } from '../../src/imds/drain.js';
import { systemScheduler } from '../../src/time/index.js';
import { FakeTime } from '../helpers/fake-time.js';

function refused(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', () => resolve(true));
  });
}

t.test('draining stops accepting at once, then waits for the request in flight, which is answered', async (t) => {
  let release: () => void = () => undefined;
  const held = new Promise<void>((resolve) => (release = resolve));
  let arrived: () => void = () => undefined;
  const requestArrived = new Promise<void>((resolve) => (arrived = resolve));
  const server = http.createServer((_request, response) => {
    arrived();
    void held.then(() => response.end('served'));
  });
  await new Promise<void>((resolve) => server.listen({ host: '127.0.0.1', port: 0 }, resolve));
  t.teardown(() => server.closeAllConnections());
  const { port } = server.address() as AddressInfo;

  const answer = new Promise<string>((resolve, reject) => {
    http.get({ host: '127.0.0.1', port, path: '/', agent: false }, (response) => {
      let body = '';
      response.on('data', (chunk: Buffer) => (body += chunk.toString()));
      response.on('end', () => resolve(body));
    }).on('error', reject);
  });
  await requestArrived;
  let drained: boolean | undefined;
  const draining = drainListeners([server], systemScheduler).then((done) => (drained = done));
  t.ok(await refused(port), 'a new connection is refused: the successor takes those');
  t.equal(drained, undefined, 'still draining while the request is in flight');
  release();
  t.equal(await answer, 'served', 'the request in flight is answered');
  await draining;
  t.equal(drained, true, 'every connection ended');
});

t.test('a connection that outlives the drain is left to close(): draining ends after 6 s', async (t) => {
  const server = http.createServer();
  await new Promise<void>((resolve) => server.listen({ host: '127.0.0.1', port: 0 }, resolve));
  t.teardown(() => server.closeAllConnections());
  const idle = connect({ host: '127.0.0.1', port: (server.address() as AddressInfo).port });
  t.teardown(() => idle.destroy());
  await new Promise((resolve) => idle.once('connect', resolve));
  const time = new FakeTime();
  const draining = drainListeners([server, http.createServer()], time);
  await time.advance(6000);
  t.equal(await draining, false);
  t.equal(time.pendingTimers, 0);
});
