import t from 'tap';
import http from 'node:http';
import { createRequire } from 'node:module';
import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { fromInstanceMetadata } from '@aws-sdk/credential-providers';
import { assertIdentity, assertRollover, identityPeer, rolloverPeer, tokensMinted, type ClientResult } from '../helpers/sdk-peers.js';
import { reportPeerWhenPassing } from '../helpers/peers.js';

/**
 * The AWS SDK for JavaScript v3 in this process: fromInstanceMetadata (the provider the default
 * chain ends at on EC2) feeding one STSClient. Its metadata client uses Node's global agent,
 * bound here to the pod's address 127.0.0.2 so the agent sees that pod.
 */
const PEER = 'aws-sdk-js-v3';
const POD_IP = '127.0.0.2';
const require = createRequire(import.meta.url);
const version = `${(require('@aws-sdk/credential-providers/package.json') as { version: string }).version} (@smithy/credential-provider-imds ${(require('@smithy/credential-provider-imds/package.json') as { version: string }).version})`;

/** Runs `rounds` GetCallerIdentity calls with one provider and one client, as the pod at POD_IP. */
async function runAsPod(imdsUrl: string, stsEndpoint: string, rounds: number, intervalMs: number): Promise<ClientResult> {
  const previousAgent = http.globalAgent;
  http.globalAgent = new http.Agent({ localAddress: POD_IP });
  process.env.AWS_EC2_METADATA_SERVICE_ENDPOINT = imdsUrl;
  const provider = fromInstanceMetadata({ timeout: 2000, maxRetries: 0 });
  let lastKey: string | undefined;
  // Only observes which key the client was handed; the client decides when to ask.
  const observed = async (): ReturnType<typeof provider> => {
    const credentials = await provider();
    lastKey = credentials.accessKeyId;
    return credentials;
  };
  const sts = new STSClient({ region: 'us-east-1', endpoint: stsEndpoint, credentials: observed });
  const result: ClientResult = { sdk: PEER, version, rounds: [], failures: 0 };
  try {
    for (let i = 0; i < rounds; i++) {
      try {
        const identity = await sts.send(new GetCallerIdentityCommand({}));
        result.rounds.push({ arn: identity.Arn, key: lastKey });
      } catch (error) {
        result.failures++;
        result.rounds.push({ error: String(error) });
      }
      if (i + 1 < rounds) await new Promise((resolve) => setTimeout(resolve, intervalMs));
    }
  } finally {
    sts.destroy();
    http.globalAgent.destroy();
    http.globalAgent = previousAgent;
    delete process.env.AWS_EC2_METADATA_SERVICE_ENDPOINT;
  }
  return result;
}

t.test('the AWS SDK for JavaScript v3 gets the pod\'s role from the agent', async (t) => {
  reportPeerWhenPassing(t, PEER, () => version);

  await t.test('over IMDSv2; moto names the assumed role', async (t) => {
    const { moto, agent } = await identityPeer(t, POD_IP);
    const before = await tokensMinted(agent);
    await assertIdentity(t, agent, await runAsPod(agent.agent.imdsUrl, moto.endpoint, 1, 0), before);
    t.comment(`@aws-sdk/credential-providers ${version}`);
  });

  await t.test('one provider and client across credential rollovers, without a failed call', async (t) => {
    const { sts, agent } = await rolloverPeer(t, POD_IP);
    // The client refreshes credentials with less than 5 min left: with 30 s sessions it asks the
    // agent before every call, and sees each new session the agent rolls to.
    assertRollover(t, await runAsPod(agent.agent.imdsUrl, sts.url, 25, 1000), sts);
  });
});

