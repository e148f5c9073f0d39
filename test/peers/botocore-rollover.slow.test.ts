import t from 'tap';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { startFakeSts } from '../../demo/index.js';
import { makeNamespace, makePod, within } from '../helpers/fake-kube-api.js';
import { startHarness } from '../helpers/agent-harness.js';

const run = promisify(execFile);
const CLIENT = fileURLToPath(new URL('./botocore_client.py', import.meta.url));

/**
 * Real clock, real botocore: the production timings (1 h sessions, refresh 45 min before expiry,
 * 25 min floor) scaled by 1/120, and botocore's own windows scaled the same way. The STS stand-in
 * refuses expired credentials, so a client left holding them would fail a call.
 */
t.test('botocore holding RefreshableCredentials rolls over several sessions without one failed call', { timeout: 240_000 }, async (t) => {
  const sts = await startFakeSts();
  t.teardown(() => sts.close());
  const h = await startHarness(t, {
    stsEndpoint: sts.url,
    flags: ['--session-duration', '30s', '--refresh-before', '22500ms', '--min-remaining', '12500ms', '--allow-unsafe-min-remaining'],
    objects: [makeNamespace('gha', { 'iam.amazonaws.com/role': 'spark-etl' }), makePod({ name: 'spark-driver', namespace: 'gha', ip: '127.0.0.2', nodeName: 'node-a' })],
  });
  await within(h.agent.directory.whenReady(), 10_000, 'ready');
  const env: NodeJS.ProcessEnv = { ...process.env, AWS_EC2_METADATA_SERVICE_ENDPOINT: h.agent.imdsUrl, AWS_CONFIG_FILE: '/dev/null', AWS_SHARED_CREDENTIALS_FILE: '/dev/null' };
  for (const name of ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN', 'AWS_PROFILE']) delete env[name];

  const { stdout } = await run(
    'python3',
    [CLIENT, '--source-ip', '127.0.0.2', '--sts-endpoint', sts.url, '--rounds', '200', '--interval', '0.5', '--time-scale', String(1 / 120)],
    { env, timeout: 300_000 },
  );
  const result = JSON.parse(stdout) as { rounds: Array<{ arn?: string; key?: string; error?: string }>; failures: number; expiry_extensions: number };
  const keys = new Set(result.rounds.map((r) => r.key));
  t.equal(result.failures, 0, `no failed call in ${result.rounds.length} (${result.rounds.find((r) => r.error)?.error ?? 'none'})`);
  t.ok(result.rounds.every((r) => r.arn === 'arn:aws:sts::123456789012:assumed-role/spark-etl/corridor.gha.node-a'));
  t.ok(keys.size >= 4, `botocore moved through ${keys.size} sessions (${keys.size - 1} rollovers)`);
  t.equal(result.expiry_extensions, 0, 'botocore never had to stretch an expiry: served credentials always had enough left');
  t.ok(sts.assumeCalls.length >= 3, `${sts.assumeCalls.length} AssumeRole calls`);
});
