import { randomBytes } from 'node:crypto';
import t from 'tap';
import { createLogger } from '../../src/log/index.js';
import { sink } from '../helpers/log-sink.js';

const secret = (what: string) => `${what}-${randomBytes(8).toString('hex')}`;

t.test('credentials, STS error fields and IMDS tokens never reach a log line', async (t) => {
  const logs = sink();
  const logger = createLogger('debug', logs);
  const secrets = {
    documentKey: secret('document-secret-access-key'),
    documentToken: secret('document-token'),
    sessionKey: secret('session-secret-access-key'),
    sessionToken: secret('session-token'),
    errorKey: secret('sts-error-secret-access-key'),
    errorToken: secret('sts-error-session-token'),
    imdsToken: secret('imds-token'),
    headerToken: secret('imds-header-token'),
  };

  // The document a pod is served, as the IMDS routes build it, and the session it comes from.
  logger.child({ component: 'imds' }).info(
    {
      document: { Code: 'Success', Type: 'AWS-HMAC', AccessKeyId: 'ASIADOCUMENT', SecretAccessKey: secrets.documentKey, Token: secrets.documentToken, Expiration: '2026-01-01T00:00:00Z' },
      session: { accessKeyId: 'ASIASESSION', secretAccessKey: secrets.sessionKey, sessionToken: secrets.sessionToken },
    },
    'credential document',
  );
  // An STS failure as the SDK throws it, carrying the credentials of the call's answer.
  const stsError = Object.assign(new Error('The security token included in the request is expired'), {
    name: 'ExpiredTokenException',
    $metadata: { httpStatusCode: 400 },
    SecretAccessKey: secrets.errorKey,
    SessionToken: secrets.errorToken,
  });
  logger.child({ component: 'credentials' }).warn({ err: stsError, role: 'arn:aws:iam::123456789012:role/spark' }, 'AssumeRole');
  // The IMDSv2 token, in a request's headers and on its own.
  logger.child({ component: 'imds' }).info({ req: { method: 'GET', url: '/latest/meta-data/', headers: { 'x-aws-ec2-metadata-token': secrets.imdsToken } } }, 'request');
  logger.info({ headers: { 'x-aws-ec2-metadata-token': secrets.headerToken, 'user-agent': 'aws-sdk-go-v2' } }, 'token check');
  logger.info({ Token: secrets.imdsToken, SecretAccessKey: secrets.documentKey, SessionToken: secrets.sessionToken }, 'bare fields');
  logger.flush();

  t.equal(logs.lines.length, 5, 'every line reached the sink');
  const text = JSON.stringify(logs.lines);
  for (const [name, value] of Object.entries(secrets)) t.notOk(text.includes(value), `${name} is not in any line`);

  const [document, failure, request, check, bare] = logs.lines;
  t.match(document, { component: 'imds', document: { AccessKeyId: 'ASIADOCUMENT', SecretAccessKey: '[redacted]', Token: '[redacted]' }, session: { accessKeyId: 'ASIASESSION', secretAccessKey: '[redacted]', sessionToken: '[redacted]' } });
  t.match(failure, { component: 'credentials', err: { type: 'Error', message: /expired/, SecretAccessKey: '[redacted]', SessionToken: '[redacted]' } }, 'the error keeps what explains it');
  t.match(request, { req: { url: '/latest/meta-data/', headers: { 'x-aws-ec2-metadata-token': '[redacted]' } } });
  t.match(check, { headers: { 'x-aws-ec2-metadata-token': '[redacted]', 'user-agent': 'aws-sdk-go-v2' } });
  t.match(bare, { Token: '[redacted]', SecretAccessKey: '[redacted]', SessionToken: '[redacted]' });
});
