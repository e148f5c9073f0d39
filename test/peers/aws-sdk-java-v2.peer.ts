import t from 'tap';
import { assertIdentity, assertRollover, identityPeer, podEnv, rolloverPeer, runClient, tokensMinted } from '../helpers/sdk-peers.js';
import { buildPeer, reportPeerWhenPassing, skipPeer } from '../helpers/peers.js';

/**
 * The AWS SDK for Java v2 (test/peers/java, built with Maven): InstanceProfileCredentialsProvider,
 * the provider Hadoop S3A and so Spark use on EC2, then STS GetCallerIdentity.
 *
 * The JVM cannot pick its source address for the SDK's metadata calls, and a connection from
 * this machine to the agent on 127.0.0.1 comes from 127.0.0.1: so the pod the agent knows here
 * has the IP 127.0.0.1, which is exactly the address the client's connections come from.
 */
const PEER = 'aws-sdk-java-v2';
const POD_IP = '127.0.0.1';

const build = buildPeer(t, 'build-java-peer.sh');
if (!build.ok) skipPeer(t, PEER, build.reason);
else {
  const client = build.path;
  t.test('the AWS SDK for Java v2 gets the pod\'s role from the agent', async (t) => {
    let version: string | undefined;
    reportPeerWhenPassing(t, PEER, () => version);

    await t.test('over IMDSv2; moto names the assumed role', async (t) => {
      const { moto, agent } = await identityPeer(t, POD_IP);
      const before = await tokensMinted(agent);
      const result = await runClient(client, ['--sts-endpoint', moto.endpoint], podEnv(agent.agent.imdsUrl));
      await assertIdentity(t, agent, result, before);
      version = result.version;
      t.comment(`aws-sdk-java-v2 ${result.version} on Java ${String(result.java)}`);
    });

    await t.test('one provider across credential rollovers, without a failed call', async (t) => {
      const { sts, agent } = await rolloverPeer(t, POD_IP);
      // The provider keeps credentials until shortly before they expire (at most 30 s here).
      const result = await runClient(client, ['--sts-endpoint', sts.url, '--rounds', '40', '--interval-ms', '1000'], podEnv(agent.agent.imdsUrl));
      assertRollover(t, result, sts);
    });
  });
}
