import t from 'tap';
import { buildPeer } from '../helpers/peers.js';
import { programPeer } from '../helpers/sdk-peers.js';

/**
 * The AWS SDK for Java v2 (test/peers/java, built with Maven): InstanceProfileCredentialsProvider,
 * the provider Hadoop S3A and so Spark use on EC2, then STS GetCallerIdentity.
 *
 * The JVM cannot pick its source address for the SDK's metadata calls, and a connection from
 * this machine to the agent on 127.0.0.1 comes from 127.0.0.1: so the pod the agent knows here
 * has the IP 127.0.0.1, which is exactly the address the client's connections come from.
 */
programPeer(t, {
  peer: 'aws-sdk-java-v2',
  title: 'the AWS SDK for Java v2 gets the pod\'s role from the agent',
  podIp: '127.0.0.1',
  client: buildPeer(t, 'build-java-peer.sh'),
  identity(t, result) {
    t.comment(`aws-sdk-java-v2 ${result.version} on Java ${String(result.java)}`);
    return result.version;
  },
  rollover: {
    title: 'one provider across credential rollovers, without a failed call',
    // The provider keeps credentials until shortly before they expire (at most 30 s here).
    args: ['--rounds', '40', '--interval-ms', '1000'],
  },
});
