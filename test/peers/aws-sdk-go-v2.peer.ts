import t from 'tap';
import { buildPeer } from '../helpers/peers.js';
import { programPeer } from '../helpers/sdk-peers.js';

/**
 * The AWS SDK for Go v2 (test/peers/go, built with Go): config.LoadDefaultConfig, which without
 * keys in the environment ends at ec2rolecreds over the imds client, then STS GetCallerIdentity.
 *
 * Like the Java peer it calls the agent from 127.0.0.1 (the address a connection to 127.0.0.1
 * comes from, without patching the SDK's HTTP client), so the pod the agent knows has that IP.
 */
programPeer(t, {
  peer: 'aws-sdk-go-v2',
  title: 'the AWS SDK for Go v2 gets the pod\'s role from the agent',
  podIp: '127.0.0.1',
  client: buildPeer(t, 'build-go-peer.sh'),
  identity(t, result) {
    t.equal(result.rounds[0]?.source, 'EC2RoleProvider', 'the default chain ended at the EC2 role provider');
    const modules = (result.modules ?? {}) as Record<string, string>;
    const part = (path: string) => `${path} ${modules[`github.com/aws/aws-sdk-go-v2/${path}`] ?? '?'}`;
    const version = `${result.version} (${part('credentials')}, ${part('feature/ec2/imds')})`;
    t.comment(`aws-sdk-go-v2 ${version}`);
    return version;
  },
  rollover: {
    title: 'one credentials cache across credential rollovers, without a failed call',
    // The cache keeps credentials until they expire (at most 30 s here), then asks again.
    args: ['--rounds', '40', '--interval', '1s'],
  },
});
