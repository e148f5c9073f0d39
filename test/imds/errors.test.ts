import t, { type Test } from 'tap';
import Fastify from 'fastify';
import { answerError, imdsError } from '../../src/imds/errors.js';
import { createLogger } from '../../src/log/index.js';
import { UpstreamBusyError, UpstreamError } from '../../src/node-metadata/index.js';
import { LogSink } from '../helpers/log-sink.js';

/** A fastify app with the metadata server's error handler and one route that throws `error`. */
async function throwing(t: Test, error: () => Error) {
  const logs = new LogSink();
  const app = Fastify({ loggerInstance: createLogger('info', logs) });
  app.setErrorHandler(answerError);
  app.get('/', async () => {
    throw error();
  });
  t.teardown(() => app.close());
  const res = await app.inject({ url: '/' });
  return { res, logs: logs.lines };
}

t.test('an error no route expects is 500 with a fixed text; its message goes to the log, never to the pod', async (t) => {
  const { res, logs } = await throwing(t, () => new Error('the node role arn:aws:iam::123456789012:role/node'));
  t.equal(res.statusCode, 500);
  t.equal(res.body, 'Internal Server Error');
  t.match(res.headers['content-type'], /^text\/plain/);
  t.ok(logs.some((line) => line.msg === 'metadata request failed' && JSON.stringify(line.err).includes('role/node')));
});

t.test('a coded error is answered with its status and text, and nothing is logged', async (t) => {
  const { res, logs } = await throwing(t, () => imdsError('DENIED', 'no role annotation on pod x or namespace y'));
  t.equal(res.statusCode, 404);
  t.equal(res.body, 'Not Found: no role annotation on pod x or namespace y');
  t.same(logs.filter((line) => line.msg === 'metadata request failed'), []);
});

t.test('an error of the node\'s metadata service is answered with its own status and the table\'s text, never its message', async (t) => {
  const busy = await throwing(t, () => new UpstreamBusyError(4, 16));
  t.equal(busy.res.statusCode, 503);
  t.equal(busy.res.headers['retry-after'], '1');
  t.equal(busy.res.body, 'Service Unavailable: the instance metadata service is busy, try again in a second');
  const failed = await throwing(t, () => new UpstreamError('upstream metadata request failed: connect ECONNREFUSED 169.254.169.254:80'));
  t.equal(failed.res.statusCode, 502);
  t.equal(failed.res.headers['retry-after'], undefined);
  t.equal(failed.res.body, 'Bad Gateway: the instance metadata service did not answer');
});

t.test('fastify\'s own client errors keep their 4xx status, with the status line as text', async (t) => {
  const { res } = await throwing(t, () => Object.assign(new Error('body too large'), { statusCode: 413 }));
  t.equal(res.statusCode, 413);
  t.equal(res.body, 'Payload Too Large');
});
