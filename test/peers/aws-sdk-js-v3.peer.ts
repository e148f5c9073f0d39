import t from 'tap';
import { createRequire } from 'node:module';
import { assertIdentity, assertRollover, identityPeer, rolloverPeer, tokensMinted, type ClientResult } from '../helpers/sdk-peers.js';
import { reportPeerWhenPassing } from '../helpers/peers.js';
import { runJsSdkAsPod } from '../helpers/js-sdk-pod.js';

/**
 * The AWS SDK for JavaScript v3 in this process: fromInstanceMetadata (the provider the default
 * chain ends at on EC2) feeding one STSClient (runJsSdkAsPod). Its metadata client uses Node's
 * global agent, bound here to the pod's address 127.0.0.2 so the agent sees that pod.
 */
const PEER = 'aws-sdk-js-v3';
const POD_IP = '127.0.0.2';
const require = createRequire(import.meta.url);
const version = `${(require('@aws-sdk/credential-providers/package.json') as { version: string }).version} (@smithy/credential-provider-imds ${(require('@smithy/credential-provider-imds/package.json') as { version: string }).version})`;

/** Runs `rounds` GetCallerIdentity calls with one provider and one client, as the pod at POD_IP. */
async function runAsPod(imdsUrl: string, stsEndpoint: string, rounds: number, intervalMs: number): Promise<ClientResult> {
  return { ...(await runJsSdkAsPod(POD_IP, imdsUrl, stsEndpoint, rounds, intervalMs)), version };
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

