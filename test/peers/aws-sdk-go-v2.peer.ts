import t from 'tap';
import { assertIdentity, assertRollover, identityPeer, podEnv, rolloverPeer, runClient, tokensMinted } from '../helpers/sdk-peers.js';
import { buildPeer, reportPeerWhenPassing, skipPeer } from '../helpers/peers.js';

/**
 * The AWS SDK for Go v2 (test/peers/go, built with Go): config.LoadDefaultConfig, which without
 * keys in the environment ends at ec2rolecreds over the imds client, then STS GetCallerIdentity.
 *
 * Like the Java peer it calls the agent from 127.0.0.1 (the address a connection to 127.0.0.1
 * comes from, without patching the SDK's HTTP client), so the pod the agent knows has that IP.
 */
const PEER = 'aws-sdk-go-v2';
const POD_IP = '127.0.0.1';

const build = buildPeer(t, 'build-go-peer.sh');
if (!build.ok) skipPeer(t, PEER, build.reason);
else {
  const client = build.path;
  t.test('the AWS SDK for Go v2 gets the pod\'s role from the agent', async (t) => {
    let version: string | undefined;
    reportPeerWhenPassing(t, PEER, () => version);

    await t.test('over IMDSv2; moto names the assumed role', async (t) => {
      const { moto, agent } = await identityPeer(t, POD_IP);
      const before = await tokensMinted(agent);
      const result = await runClient(client, ['--sts-endpoint', moto.endpoint], podEnv(agent.agent.imdsUrl));
      await assertIdentity(t, agent, result, before);
      t.equal(result.rounds[0]?.source, 'EC2RoleProvider', 'the default chain ended at the EC2 role provider');
      const modules = (result.modules ?? {}) as Record<string, string>;
      const part = (path: string) => `${path} ${modules[`github.com/aws/aws-sdk-go-v2/${path}`] ?? '?'}`;
      version = `${result.version} (${part('credentials')}, ${part('feature/ec2/imds')})`;
      t.comment(`aws-sdk-go-v2 ${version}`);
    });

    await t.test('one credentials cache across credential rollovers, without a failed call', async (t) => {
      const { sts, agent } = await rolloverPeer(t, POD_IP);
      // The cache keeps credentials until they expire (at most 30 s here), then asks again.
      const result = await runClient(client, ['--sts-endpoint', sts.url, '--rounds', '40', '--interval', '1s'], podEnv(agent.agent.imdsUrl));
      assertRollover(t, result, sts);
    });
  });
}
