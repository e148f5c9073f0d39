import t from 'tap';
import http from 'node:http';
import { execFile, spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { resolveDefaultsModeConfig } from '@smithy/core/config';
import { fromInstanceMetadata } from '@aws-sdk/credential-providers';
import { DEFAULT_PASSTHROUGH_PATHS } from '../../src/config/agent-config.js';
import { startFakeSts } from '../../demo/index.js';
import { startHarness } from '../helpers/agent-harness.js';
import { within } from '../helpers/fake-kube-api.js';
import { freePort } from '../helpers/free-port.js';
import { imdsv1Front } from '../helpers/imdsv1-front.js';
import { asPod, pysparkAndNoRole } from '../helpers/js-sdk-pod.js';
import { buildPeer, hasTool } from '../helpers/peers.js';
import { stopChild } from '../helpers/stop-child.js';

/**
 * The passthrough and listings against a real IMDS simulator as the upstream (Amazon's EC2
 * metadata mock, IMDSv2 required, on loopback only), and the real clients that walk those paths:
 * botocore's region lookup and the JS SDK's region inference and credential provider, over
 * IMDSv2 and IMDSv1 (an IMDSv1-only hop in front of the agent, see imdsv1-front.ts).
 */
const run = promisify(execFile);
const REGION_CLIENT = fileURLToPath(new URL('./botocore_region.py', import.meta.url));
const smithyCore = (createRequire(import.meta.url)('@smithy/core/package.json') as { version: string }).version;
const imdsProvider = (createRequire(import.meta.url)('@smithy/credential-provider-imds/package.json') as { version: string }).version;

const mock = buildPeer(t, 'install-ec2-metadata-mock.sh');
if (!mock.ok) t.plan(0, `the EC2 metadata mock is not installed: ${mock.reason}`);
else await main(mock.path);

/** The mock on a loopback port, IMDSv2 required; resolves once it says it listens. */
async function startMock(binary: string): Promise<string> {
  const port = await freePort();
  const child = spawn(binary, ['--hostname', '127.0.0.1', '--port', String(port), '--imdsv2'], { stdio: ['ignore', 'pipe', 'pipe'], cwd: tmpdir() });
  t.teardown(() => stopChild(child));
  let output = '';
  const listening = new Promise<void>((resolve, reject) => {
    const seen = (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes(`on port ${port}`)) resolve();
    };
    child.stdout.on('data', seen);
    child.stderr.on('data', seen);
    child.once('exit', (code) => reject(new Error(`ec2-metadata-mock exited ${code}: ${output}`)));
  });
  await within(listening, 10_000, 'the EC2 metadata mock to listen');
  return `http://127.0.0.1:${port}`;
}

function request(url: string, options: { method?: string; headers?: Record<string, string>; from?: string } = {}): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: options.method ?? 'GET', headers: options.headers, agent: false, ...(options.from ? { localAddress: options.from } : {}) }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

const lines = (text: string) => text.split('\n').filter(Boolean);

async function main(binary: string): Promise<void> {
  const mockUrl = await startMock(binary);
  const sts = await startFakeSts();
  t.teardown(() => sts.close());
  const h = await startHarness(t, {
    stsEndpoint: sts.url,
    objects: pysparkAndNoRole('plain'),
    flags: ['--imds-upstream', mockUrl, '--passthrough-paths', DEFAULT_PASSTHROUGH_PATHS.join(','), '--pod-lookup-timeout', '200ms'],
  });
  await within(h.agent.directory.whenReady(), 10_000, 'ready');
  const agentUrl = h.agent.imdsUrl;
  const mockToken = (await request(`${mockUrl}/latest/api/token`, { method: 'PUT', headers: { 'x-aws-ec2-metadata-token-ttl-seconds': '600' } })).body;
  const fromMock = (path: string) => request(`${mockUrl}${path}`, { headers: { 'x-aws-ec2-metadata-token': mockToken } });
  const v1Url = await imdsv1Front(t, agentUrl);

  t.test('every allowlisted path, with and without the slash and under a dated version, is the simulator\'s answer, over IMDSv2 and IMDSv1', async (t) => {
    const token = (await request(`${agentUrl}/latest/api/token`, { method: 'PUT', from: '127.0.0.2', headers: { 'x-aws-ec2-metadata-token-ttl-seconds': '60' } })).body;
    for (const path of DEFAULT_PASSTHROUGH_PATHS) {
      const real = await fromMock(path);
      t.equal(real.status, 200, `the simulator serves ${path}`);
      for (const url of [path, `${path}/`, path.replace('/latest/', '/2021-07-15/'), path.replace('/latest/', '/2016-09-02/') + '/']) {
        for (const headers of [{ 'x-aws-ec2-metadata-token': token }, {}] as Array<Record<string, string>>) {
          const mode = 'x-aws-ec2-metadata-token' in headers ? 'IMDSv2' : 'IMDSv1';
          const got = await request(`${agentUrl}${url}`, { from: '127.0.0.2', headers });
          t.same(got, real, `${mode} ${url}`);
        }
      }
    }
    t.equal((await request(`${agentUrl}/latest/meta-data/placement/region`, { from: '127.0.0.3' })).body, (await fromMock('/latest/meta-data/placement/region')).body, 'a known pod without a role gets the region');
    const unknown = await request(`${agentUrl}/latest/dynamic/instance-identity/document`, { from: '127.0.0.9' });
    t.equal(unknown.status, 404, 'an IP that is no pod on this node gets no identity document');
    t.notMatch(unknown.body, /instanceId/);
    t.equal((await request(`${agentUrl}/1999-01-01/meta-data/placement/region`, { from: '127.0.0.2' })).status, 404, 'an unknown version');
  });

  t.test('the listings are the simulator\'s, cut to what corridor serves this pod', async (t) => {
    for (const path of ['/latest/', '/latest/meta-data/', '/latest/meta-data/iam/', '/latest/meta-data/placement/', '/latest/dynamic/', '/latest/dynamic/instance-identity/']) {
      const ours = await request(`${agentUrl}${path}`, { from: '127.0.0.2' });
      const real = lines((await fromMock(path)).body);
      t.equal(ours.status, 200, path);
      t.ok(lines(ours.body).length > 0, `${path} lists something`);
      for (const entry of lines(ours.body)) t.ok(real.includes(entry), `${path}: "${entry}" is listed by the simulator too`);
      t.notMatch(ours.body, /user-data/, `${path}: no user-data`);
    }
    t.notMatch((await request(`${agentUrl}/latest/meta-data/`, { from: '127.0.0.3' })).body, /iam/, 'no iam/ for a pod without a role');
    t.equal((await request(`${agentUrl}/latest/meta-data/`, { from: '127.0.0.9' })).status, 404, 'nothing for an unknown IP');
  });

  t.test('botocore\'s IMDS region provider (InstanceMetadataRegionFetcher) finds the region through corridor, over IMDSv2 and IMDSv1', { skip: hasTool('python3', ['-c', 'import botocore']) ? false : 'botocore is not installed (scripts/install-python-peers.sh)' }, async (t) => {
    const expected = (await fromMock('/latest/meta-data/placement/availability-zone')).body.slice(0, -1);
    const env: NodeJS.ProcessEnv = { ...process.env, AWS_CONFIG_FILE: '/dev/null', AWS_SHARED_CREDENTIALS_FILE: '/dev/null' };
    for (const name of ['AWS_REGION', 'AWS_DEFAULT_REGION', 'AWS_PROFILE', 'AWS_EC2_METADATA_DISABLED']) delete env[name];
    for (const [mode, endpoint] of [['IMDSv2', agentUrl], ['IMDSv1', v1Url]] as const) {
      const { stdout } = await run('python3', [REGION_CLIENT, '--source-ip', '127.0.0.2'], { env: { ...env, AWS_EC2_METADATA_SERVICE_ENDPOINT: endpoint } });
      const result = JSON.parse(stdout) as { botocore: string; fetched: string | null; auto_mode_us_east_1: string };
      t.equal(result.fetched, expected, `${mode}: IMDSRegionProvider finds the region from .../availability-zone/`);
      t.equal(result.auto_mode_us_east_1, expected === 'us-east-1' ? 'in-region' : 'cross-region', `${mode}: defaults_mode auto resolves with it`);
      t.comment(`botocore ${result.botocore} over ${mode}`);
    }
  });

  t.test('the JS SDK: its credential provider over both paths, and its region inference (defaultsMode auto, IMDSv2 only)', async (t) => {
    for (const [mode, endpoint] of [['IMDSv2', agentUrl], ['IMDSv1', v1Url]] as const) {
      const credentials = await asPod('127.0.0.2', endpoint, () => fromInstanceMetadata({ timeout: 2000, maxRetries: 0 })());
      t.match(credentials.accessKeyId, /^ASIA/, `${mode}: fromInstanceMetadata gets the pod's credentials`);
    }
    // The JS SDK reads no region from IMDS for its region provider (env and config files only);
    // it asks IMDS for the region only to infer defaultsMode "auto" (@smithy/core config), over IMDSv2.
    const region = (await fromMock('/latest/meta-data/placement/region')).body;
    const other = region === 'eu-west-1' ? 'us-east-1' : 'eu-west-1';
    t.equal(await asPod('127.0.0.2', agentUrl, () => resolveDefaultsModeConfig({ region, defaultsMode: 'auto' })()), 'in-region', 'IMDSv2: the region matches the node\'s');
    t.equal(await asPod('127.0.0.3', agentUrl, () => resolveDefaultsModeConfig({ region: other, defaultsMode: 'auto' })()), 'cross-region', 'IMDSv2, a pod without a role: another region is cross-region');
    // It has no IMDSv1 fallback: with the token PUT refused it infers nothing ("standard").
    t.equal(await asPod('127.0.0.2', v1Url, () => resolveDefaultsModeConfig({ region, defaultsMode: 'auto' })()), 'standard', 'IMDSv1 only: no region inferred, as the SDK does on any IMDS');
    t.comment(`@smithy/core ${smithyCore}, @smithy/credential-provider-imds ${imdsProvider}`);
  });
}
