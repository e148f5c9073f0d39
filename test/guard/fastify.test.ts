import Fastify from 'fastify';
import { createRequire } from 'node:module';
import t from 'tap';
import { exposedServerOptions } from '../../src/guard/index.js';

// fastify's JSON Schema compilers are loaded on first use (src/guard/fastify.ts), not when a server is built.
const fromFastify = createRequire(createRequire(import.meta.url).resolve('fastify'));

t.test('a server with the shared options and no schema never builds the schema compilers', async (t) => {
  const app = Fastify({ ...exposedServerOptions });
  t.teardown(() => app.close());
  app.get('/plain', (_request, reply) => reply.send({ ok: true }));
  const answer = await app.inject({ url: '/plain' });
  t.equal(answer.statusCode, 200);
  t.same(answer.json(), { ok: true });
  t.notOk(fromFastify.cache[fromFastify.resolve('@fastify/ajv-compiler')], 'ajv-compiler was not loaded');
  t.notOk(fromFastify.cache[fromFastify.resolve('@fastify/fast-json-stringify-compiler')], 'fast-json-stringify-compiler was not loaded');
});

t.test('a route with a schema still validates and serialises, with compilers loaded on demand', async (t) => {
  const app = Fastify({ ...exposedServerOptions });
  t.teardown(() => app.close());
  app.get(
    '/typed',
    { schema: { querystring: { type: 'object', properties: { n: { type: 'integer' } }, required: ['n'] }, response: { 200: { type: 'object', properties: { n: { type: 'integer' } } } } } },
    (request, reply) => reply.send({ n: (request.query as { n: number }).n, hidden: 'dropped by the serialiser' }),
  );
  t.equal((await app.inject({ url: '/typed' })).statusCode, 400);
  const answer = await app.inject({ url: '/typed?n=7' });
  t.equal(answer.statusCode, 200);
  t.same(answer.json(), { n: 7 });
  t.ok(fromFastify.cache[fromFastify.resolve('@fastify/ajv-compiler')], 'ajv-compiler was loaded for the schema');
});
