import t from 'tap';
import { toAssumeRoleError } from '../../src/credentials/sts-errors.js';
import { AssumeRoleError } from '../../src/credentials/index.js';

// HTTP answers (Throttling, AccessDenied, 5xx...) are covered end to end through the SDK in
// sts-assumer.slow.test.ts; these are the errors that never reach STS.

t.test('timeouts and aborts are retryable Timeout', async (t) => {
  t.match(toAssumeRoleError(Object.assign(new Error('a request has exceeded the configured 300 ms requestTimeout'), { name: 'TimeoutError', code: 'ETIMEDOUT' })), { code: 'Timeout', retryable: true });
  t.match(toAssumeRoleError(Object.assign(new Error('Request aborted'), { name: 'AbortError' })), { code: 'Timeout', retryable: true });
});

t.test('socket errors keep their code and are retryable', async (t) => {
  for (const code of ['ECONNREFUSED', 'ECONNRESET', 'ENOTFOUND', 'EAI_AGAIN']) {
    t.match(toAssumeRoleError(Object.assign(new Error(`connect ${code}`), { code, $metadata: {} })), { code, retryable: true });
  }
});

t.test("the agent's own credentials missing is retryable (the node role may come back)", async (t) => {
  const error = Object.assign(new Error('Could not load credentials from any providers'), { name: 'CredentialsProviderError' });
  t.match(toAssumeRoleError(error), { code: 'CredentialsProviderError', retryable: true });
});

t.test('anything else keeps its name, so a bug is not reported as an STS or network failure', async (t) => {
  t.match(toAssumeRoleError(new TypeError('x is not a function')), { code: 'TypeError', retryable: true });
  t.match(toAssumeRoleError('a string'), { code: 'Unknown', message: 'a string' });
  const original = new AssumeRoleError('denied', 'AccessDenied', false);
  t.equal(toAssumeRoleError(original), original, 'an AssumeRoleError passes through');
});

t.test('a parsed answer with a 2xx/3xx status but no usable body is InvalidResponse', async (t) => {
  t.match(toAssumeRoleError(Object.assign(new Error('Deserialization error'), { $metadata: { httpStatusCode: 200 } })), { code: 'InvalidResponse', retryable: true });
});
