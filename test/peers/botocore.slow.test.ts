import t from 'tap';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { within } from '../helpers/fake-kube-api.js';
import { startMoto } from '../helpers/moto.js';
import { startHarness } from '../helpers/agent-harness.js';
import { imdsv1Front } from '../helpers/imdsv1-front.js';
import { pysparkAndNoRole } from '../helpers/js-sdk-pod.js';

const run = promisify(execFile);
const CLIENT = fileURLToPath(new URL('./botocore_client.py', import.meta.url));

interface ClientResult {
  method: string;
  botocore: string;
  rounds: Array<{ arn?: string; key?: string; error?: string }>;
  failures: number;
}

t.test('botocore finds corridor through its instance-metadata provider, over IMDSv2 and IMDSv1', async (t) => {
  const moto = await startMoto(t);
  const h = await startHarness(t, {
    stsEndpoint: moto.endpoint,
    objects: pysparkAndNoRole('gha1'),
  });
  await within(h.agent.directory.whenReady(), 10_000, 'ready');
  const env: NodeJS.ProcessEnv = { ...process.env, AWS_CONFIG_FILE: '/dev/null', AWS_SHARED_CREDENTIALS_FILE: '/dev/null' };
  for (const name of ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN', 'AWS_PROFILE', 'AWS_CONTAINER_CREDENTIALS_FULL_URI', 'AWS_CONTAINER_CREDENTIALS_RELATIVE_URI', 'AWS_WEB_IDENTITY_TOKEN_FILE']) delete env[name];

  const tokensMinted = async () => Number(/corridor_requests_total\{route="token",code="200"\} (\d+)/.exec(await (await fetch(`${h.agent.adminUrl}/metrics`)).text())?.[1] ?? 0);
  const endpoints = { imdsv2: h.agent.imdsUrl, imdsv1: await imdsv1Front(t, h.agent.imdsUrl) };
  for (const mode of ['imdsv2', 'imdsv1'] as const) {
    const before = await tokensMinted();
    const { stdout } = await run('python3', [CLIENT, '--source-ip', '127.0.0.2', '--sts-endpoint', moto.endpoint], { env: { ...env, AWS_EC2_METADATA_SERVICE_ENDPOINT: endpoints[mode] } });
    const result = JSON.parse(stdout) as ClientResult;
    t.equal(result.method, 'iam-role', `${mode}: botocore used its instance-metadata provider`);
    t.equal(result.rounds[0]?.arn, 'arn:aws:sts::123456789012:assumed-role/spark-etl/corridor.gha.node-a', `${mode}: sts get-caller-identity names the corridor role`);
    t.equal(result.failures, 0);
    t.comment(`botocore ${result.botocore} over ${mode}`);
    t.equal(await tokensMinted() - before, mode === 'imdsv2' ? 1 : 0, `${mode}: ${mode === 'imdsv2' ? 'one token minted' : 'no token asked for'}`);
  }

  const denied = await run('python3', [CLIENT, '--source-ip', '127.0.0.3', '--sts-endpoint', moto.endpoint], { env: { ...env, AWS_EC2_METADATA_SERVICE_ENDPOINT: h.agent.imdsUrl } }).catch((error: { stdout: string }) => error);
  t.match(JSON.parse(denied.stdout), { error: 'no credentials found' }, 'a pod without a role finds no credentials at all');
});
