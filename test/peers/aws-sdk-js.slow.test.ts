import t from 'tap';
import { createRequire } from 'node:module';
import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { fromInstanceMetadata } from '@aws-sdk/credential-providers';
import { makeNamespace, makePod, within } from '../helpers/fake-kube-api.js';
import { startMoto } from '../helpers/moto.js';
import { startHarness } from '../helpers/agent-harness.js';
import { imdsv1Front } from '../helpers/imdsv1-front.js';
import { asPod } from '../helpers/js-sdk-pod.js';

const sdkVersion = (createRequire(import.meta.url)('@smithy/credential-provider-imds/package.json') as { version: string }).version;

t.test('the AWS SDK for JavaScript v3 gets the corridor role over IMDSv2 and IMDSv1', async (t) => {
  const moto = await startMoto(t);
  const h = await startHarness(t, {
    stsEndpoint: moto.endpoint,
    objects: [
      makeNamespace('gha', { 'iam.amazonaws.com/allowed-roles': '["ingest-*"]' }),
      makePod({ name: 'ingest', namespace: 'gha', ip: '127.0.0.2', nodeName: 'node-a', annotations: { 'iam.amazonaws.com/role': 'ingest-writer' } }),
      makePod({ name: 'rogue', namespace: 'gha', ip: '127.0.0.3', nodeName: 'node-a', annotations: { 'iam.amazonaws.com/role': 'admin' } }),
    ],
  });
  await within(h.agent.directory.whenReady(), 10_000, 'ready');
  const endpoints = { imdsv2: h.agent.imdsUrl, imdsv1: await imdsv1Front(t, h.agent.imdsUrl) };

  for (const mode of ['imdsv2', 'imdsv1'] as const) {
    const credentials = await asPod('127.0.0.2', endpoints[mode], () => fromInstanceMetadata({ timeout: 2000, maxRetries: 0 })());
    t.ok(credentials.expiration && credentials.expiration.getTime() - Date.now() > 25 * 60_000, `${mode}: at least min-remaining left`);
    const sts = new STSClient({ region: 'us-east-1', endpoint: moto.endpoint, credentials });
    const identity = await sts.send(new GetCallerIdentityCommand({}));
    sts.destroy();
    t.equal(identity.Arn, 'arn:aws:sts::123456789012:assumed-role/ingest-writer/corridor.gha.node-a', `${mode}: sts get-caller-identity names the pod's role`);
  }
  t.comment(`@smithy/credential-provider-imds ${sdkVersion}`);

  await t.rejects(
    asPod('127.0.0.3', h.agent.imdsUrl, () => fromInstanceMetadata({ timeout: 2000, maxRetries: 0 })()),
    'a pod asking for a role outside its corridor gets no credentials',
  );
});
