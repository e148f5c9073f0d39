import t from 'tap';
import { fileURLToPath } from 'node:url';
import { assertIdentity, assertRollover, identityPeer, podEnv, rolloverPeer, runClient, tokensMinted } from '../helpers/sdk-peers.js';
import { hasTool, reportPeerWhenPassing, skipPeer } from '../helpers/peers.js';

/**
 * botocore/boto3 (test/peers/botocore_client.py): the default chain ends at its
 * instance-metadata provider; metadata sockets bound to the pod's address 127.0.0.2.
 */
const PEER = 'botocore';
const POD_IP = '127.0.0.2';
const CLIENT = fileURLToPath(new URL('./botocore_client.py', import.meta.url));

if (!hasTool('python3', ['-c', 'import boto3, botocore'])) skipPeer(t, PEER, 'python3 with boto3 is not installed (bash scripts/install-python-peers.sh)');
else {
  t.test('botocore gets the pod\'s role from the agent', async (t) => {
    let version: string | undefined;
    reportPeerWhenPassing(t, PEER, () => version);

    await t.test('over IMDSv2; moto names the assumed role', async (t) => {
      const { moto, agent } = await identityPeer(t, POD_IP);
      const before = await tokensMinted(agent);
      const result = await runClient('python3', [CLIENT, '--source-ip', POD_IP, '--sts-endpoint', moto.endpoint], podEnv(agent.agent.imdsUrl));
      await assertIdentity(t, agent, result, before);
      t.equal(result.method, 'iam-role', 'botocore used its instance-metadata provider');
      version = String(result.botocore);
    });

    await t.test('one RefreshableCredentials across credential rollovers, without a failed call', async (t) => {
      const { sts, agent } = await rolloverPeer(t, POD_IP);
      // botocore's own refresh windows (15 and 10 min, the fetcher's 10 min extension window)
      // shrink by the agent's 1/120 scale, so it behaves as with 1 h sessions.
      const result = await runClient('python3', [CLIENT, '--source-ip', POD_IP, '--sts-endpoint', sts.url, '--rounds', '40', '--interval', '1', '--time-scale', String(1 / 120)], podEnv(agent.agent.imdsUrl));
      assertRollover(t, result, sts);
      t.equal(result.expiry_extensions, 0, 'botocore never had to stretch an expiry');
    });
  });
}
