import t from 'tap';
import { fileURLToPath } from 'node:url';
import { hasTool } from '../helpers/peers.js';
import { programPeer } from '../helpers/sdk-peers.js';

/**
 * botocore/boto3 (test/peers/botocore_client.py): the default chain ends at its
 * instance-metadata provider; metadata sockets bound to the pod's address 127.0.0.2.
 */
const POD_IP = '127.0.0.2';
const CLIENT = fileURLToPath(new URL('./botocore_client.py', import.meta.url));

programPeer(t, {
  peer: 'botocore',
  title: 'botocore gets the pod\'s role from the agent',
  podIp: POD_IP,
  client: hasTool('python3', ['-c', 'import boto3, botocore'])
    ? { ok: true, path: 'python3', args: [CLIENT, '--source-ip', POD_IP] }
    : { ok: false, reason: 'python3 with boto3 is not installed (bash scripts/install-python-peers.sh)' },
  identity(t, result) {
    t.equal(result.method, 'iam-role', 'botocore used its instance-metadata provider');
    return String(result.botocore);
  },
  rollover: {
    title: 'one RefreshableCredentials across credential rollovers, without a failed call',
    // botocore's own refresh windows (15 and 10 min, the fetcher's 10 min extension window)
    // shrink by the agent's 1/120 scale, so it behaves as with 1 h sessions.
    args: ['--rounds', '40', '--interval', '1', '--time-scale', String(1 / 120)],
    check(t, result) {
      t.equal(result.expiry_extensions, 0, 'botocore never had to stretch an expiry');
    },
  },
});
