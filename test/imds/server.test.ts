import t from 'tap';
import { build } from '../helpers/build-app.js';
import { podInfo } from '../helpers/scripted-kube.js';

t.test('a runaway pod is limited with 429 while other pods on the node are still served', async (t) => {
  const app = await build(t, ['--rate-limit', '10', '--rate-limit-burst', '5']);
  app.kube.setNamespace('gha', { 'iam.amazonaws.com/role': 'spark-etl' });
  app.kube.addPod(podInfo({ name: 'runaway', ip: '10.0.0.7' }));
  app.kube.addPod(podInfo({ name: 'quiet', ip: '10.0.0.8' }));
  const get = (ip: string) => app.imds.inject({ url: '/latest/meta-data/iam/security-credentials/', remoteAddress: ip });
  const codes: number[] = [];
  for (let i = 0; i < 8; i++) codes.push((await get('10.0.0.7')).statusCode);
  t.same(codes, [200, 200, 200, 200, 200, 429, 429, 429]);
  const limited = await get('10.0.0.7');
  t.equal(limited.headers['retry-after'], '1');
  t.equal((await get('10.0.0.8')).statusCode, 200, 'another pod is not affected');
  await app.time.advance(1000);
  t.equal((await get('10.0.0.7')).statusCode, 200, 'the runaway pod is served again once its bucket refills');
  t.match(await app.metrics.registry.metrics(), /corridor_requests_total\{route="credentials-list",code="429"\} 4/);
});

t.test('a rate limit of 0 turns limiting off', async (t) => {
  const app = await build(t, ['--rate-limit', '0']);
  app.kube.setNamespace('gha', { 'iam.amazonaws.com/role': 'spark-etl' });
  app.kube.addPod(podInfo({ name: 'busy', ip: '10.0.0.7' }));
  for (let i = 0; i < 1000; i++) {
    const res = await app.imds.inject({ url: '/latest/meta-data/iam/security-credentials/', remoteAddress: '10.0.0.7' });
    if (res.statusCode !== 200) t.fail(`request ${i} got ${res.statusCode}`);
  }
  t.pass('1000 requests in a row were all answered');
});

t.test('requests make no logger of their own: request.log is the server\'s logger, whose lines carry its component', async (t) => {
  const app = await build(t);
  const loggers = new Set<unknown>();
  app.imds.addHook('onRequest', (request, _reply, done) => {
    loggers.add(request.log);
    done();
  });
  await app.imds.inject({ url: '/latest/meta-data/iam/security-credentials/', remoteAddress: '10.0.0.7' });
  await app.imds.inject({ url: '/latest/meta-data/iam/security-credentials/', remoteAddress: '10.0.0.8' });
  t.same([...loggers], [app.imds.log]);
  app.imds.log.info({ probe: 1 }, 'a line from request.log');
  t.match(app.logs.find((line) => line.msg === 'a line from request.log'), { component: 'imds', probe: 1 });
});
