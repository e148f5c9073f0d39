import t from 'tap';
import type { PassthroughUpstream as MetadataUpstream } from '../../src/node-metadata/index.js';
import { build } from '../helpers/build-app.js';
import { podInfo } from '../helpers/scripted-kube.js';
import { settle } from '../helpers/fake-time.js';

/** An upstream that answers every path with its own name and records what it was asked. */
function echoUpstream(): MetadataUpstream & { asked: string[] } {
  const asked: string[] = [];
  return { asked, get: async (path) => { asked.push(path); return { status: 200, body: `node:${path}`, contentType: 'text/plain' }; } };
}

/** A pod with a role (10.0.0.7) and a known pod its namespace gives none (10.0.0.8). */
async function withPods(t: Parameters<typeof build>[0], flags: string[] = []) {
  const upstream = echoUpstream();
  const app = await build(t, flags, upstream);
  app.kube.setNamespace('gha', { 'iam.amazonaws.com/role': 'spark-etl' });
  app.kube.setNamespace('plain', {});
  app.kube.addPod(podInfo({ name: 'spark-driver', ip: '10.0.0.7' }));
  app.kube.addPod(podInfo({ name: 'no-role', namespace: 'plain', ip: '10.0.0.8' }));
  await settle();
  return { app, upstream };
}

const get = (app: Awaited<ReturnType<typeof withPods>>['app'], url: string, ip = '10.0.0.7', headers: Record<string, string> = {}) =>
  app.imds.inject({ url, remoteAddress: ip, headers });

t.test('the listings show, one entry a line, what this agent serves to this pod', async (t) => {
  const { app, upstream } = await withPods(t);
  const metaData = ['iam/', 'instance-id', 'instance-type', 'local-ipv4', 'placement/'].join('\n');
  for (const url of ['/latest/meta-data/', '/latest/meta-data']) {
    const res = await get(app, url);
    t.same([res.statusCode, res.body], [200, metaData], `${url} for a pod with a role`);
    t.match(res.headers['content-type'], /^text\/plain/);
  }
  t.same((await get(app, '/latest/meta-data/', '10.0.0.8')).body, ['instance-id', 'instance-type', 'local-ipv4', 'placement/'].join('\n'), 'no iam/ for a pod without a role');
  t.same((await get(app, '/latest/meta-data/iam/')).body, 'info\nsecurity-credentials/', 'iam/ as real IMDS lists it');
  t.same((await get(app, '/latest/meta-data/iam')).body, 'info\nsecurity-credentials/', 'iam without the slash');
  const noRoleIam = await get(app, '/latest/meta-data/iam/', '10.0.0.8');
  t.equal(noRoleIam.statusCode, 404, 'iam/ is no directory for a pod without a role');
  t.match(noRoleIam.body, /^Not Found: /, 'with the reason');
  t.same((await get(app, '/latest/meta-data/placement/')).body, 'availability-zone\navailability-zone-id\nregion');
  t.same((await get(app, '/latest/dynamic/')).body, 'instance-identity/');
  t.same((await get(app, '/latest/dynamic/instance-identity/')).body, 'document');
  for (const url of ['/latest/', '/latest']) t.same((await get(app, url)).body, 'dynamic\nmeta-data', `${url}: categories without a slash, no user-data`);
  const root = await get(app, '/');
  t.equal(root.statusCode, 200);
  const versions = root.body.split('\n');
  t.equal(versions.at(-1), 'latest', '/ lists the versions, latest last');
  t.ok(versions.includes('1.0') && versions.includes('2016-09-02') && versions.includes('2021-07-15'), 'and the dated versions');
  t.same(upstream.asked, [], 'listings never ask the node');
});

t.test('the listings follow the configured passthrough paths', async (t) => {
  const { app } = await withPods(t, ['--passthrough-paths', '/latest/meta-data/placement/region']);
  t.same((await get(app, '/latest/meta-data/')).body, 'iam/\nplacement/');
  t.same((await get(app, '/latest/meta-data/placement/')).body, 'region');
  t.same((await get(app, '/latest/')).body, 'meta-data', 'no dynamic without an allowlisted dynamic path');
  t.equal((await get(app, '/latest/dynamic/')).statusCode, 404);
  const none = await withPods(t, ['--passthrough-paths', '']);
  t.equal((await get(none.app, '/latest/meta-data/', '10.0.0.8')).statusCode, 404, 'nothing to list for a pod with no role and no passthrough');
  t.same((await get(none.app, '/latest/meta-data/')).body, 'iam/');
});

t.test('dated versions answer like latest; an unknown version gets 404', async (t) => {
  const { app, upstream } = await withPods(t);
  for (const version of ['2021-07-15', '2016-09-02', '1.0', '2024-04-11']) {
    t.equal((await get(app, `/${version}/meta-data/iam/security-credentials/`)).body, 'spark-etl', `${version}: the role list`);
    const doc = await get(app, `/${version}/meta-data/iam/security-credentials/spark-etl`);
    t.equal(JSON.parse(doc.body).Code, 'Success', `${version}: the credentials`);
    t.equal(JSON.parse((await get(app, `/${version}/meta-data/iam/security-credentials-extended/spark-etl`)).body).AccountId, '123456789012', `${version}: the extended document`);
    t.equal((await get(app, `/${version}/meta-data/iam/info`)).statusCode, 200, `${version}: iam/info`);
    t.equal((await get(app, `/${version}/meta-data/`)).body, (await get(app, '/latest/meta-data/')).body, `${version}: the listing`);
    t.equal((await get(app, `/${version}/`)).body, 'dynamic\nmeta-data', `${version}/`);
  }
  upstream.asked.length = 0;
  t.equal((await get(app, '/2021-07-15/meta-data/placement/region')).body, 'node:/latest/meta-data/placement/region', 'a dated passthrough asks the node the fixed allowlisted path');
  t.same(upstream.asked, ['/latest/meta-data/placement/region']);
  upstream.asked.length = 0;
  for (const url of ['/1999-01-01/meta-data/iam/security-credentials/', '/1999-01-01/', '/1999-01-01', '/2021-07-16/meta-data/', '/LATEST/meta-data/', '/..%2f/meta-data/placement/region', '/1999-01-01/meta-data/placement/region']) {
    const res = await get(app, url);
    t.same([res.statusCode, res.body], [404, 'Not Found'], url);
  }
  t.same(upstream.asked, [], 'an unknown version never reaches the node');
  t.equal((await get(app, '/1999-01-01/meta-data/', '10.0.0.7', { 'x-aws-ec2-metadata-token': 'forged' })).statusCode, 404, 'an unknown version is 404 before the token check');
  t.equal((await app.imds.inject({ method: 'PUT', url: '/2021-07-15/api/token', remoteAddress: '10.0.0.7', headers: { 'x-aws-ec2-metadata-token-ttl-seconds': '60' } })).statusCode, 405, 'tokens only at /latest/api/token');
});

t.test('every allowlisted passthrough path works with and without the trailing slash, forwarding only the fixed path', async (t) => {
  const { app, upstream } = await withPods(t);
  for (const path of app.config.passthroughPaths) {
    for (const url of [path, `${path}/`, path.replace('/latest/', '/2016-09-02/') + '/']) {
      upstream.asked.length = 0;
      const res = await get(app, url);
      t.same([res.statusCode, res.body], [200, `node:${path}`], url);
      t.same(upstream.asked, [path], `${url} asked the node for ${path} only`);
    }
  }
  const az = await get(app, '/latest/meta-data/placement/availability-zone/');
  t.equal(az.body, 'node:/latest/meta-data/placement/availability-zone', 'botocore\'s region lookup path');
});

t.test('the credential document answers with a trailing slash too', async (t) => {
  const { app } = await withPods(t);
  t.equal(JSON.parse((await get(app, '/latest/meta-data/iam/security-credentials/spark-etl/')).body).Code, 'Success');
  t.equal(JSON.parse((await get(app, '/latest/meta-data/iam/security-credentials-extended/spark-etl/')).body).AccountId, '123456789012');
});

t.test('passthrough and listings answer only known pods: an unknown or shared IP gets 404 after the pod-lookup wait; a pod without a role still gets the region', async (t) => {
  const { app, upstream } = await withPods(t);
  app.kube.addPod(podInfo({ name: 'a', ip: '10.0.0.20' }));
  app.kube.addPod(podInfo({ name: 'b', ip: '10.0.0.20' }));
  for (const url of ['/latest/dynamic/instance-identity/document', '/latest/meta-data/placement/region', '/latest/meta-data/instance-id/', '/latest/meta-data/', '/latest/', '/2021-07-15/meta-data/placement/']) {
    const unknown = await get(app, url, '10.0.0.50');
    t.equal(unknown.statusCode, 404, `unknown IP: ${url}`);
    t.match(unknown.body, /no pod on this node has IP 10.0.0.50/, 'with the reason');
    const shared = await get(app, url, '10.0.0.20');
    t.equal(shared.statusCode, 404, `shared IP: ${url}`);
    t.match(shared.body, /several live pods share 10.0.0.20/);
  }
  t.same(upstream.asked, [], 'the node was never asked for them');
  t.equal((await get(app, '/', '10.0.0.50')).statusCode, 200, 'the version list answers anyone: it says nothing about the node');
  t.ok(app.logs.some((l) => l.component === 'audit' && l.reason === 'unknown-pod' && l.ip === '10.0.0.50'), 'the refusal is audited');

  t.equal((await get(app, '/latest/meta-data/placement/region', '10.0.0.8')).body, 'node:/latest/meta-data/placement/region', 'a known pod without a role gets the region (SDKs need it)');
  t.equal((await get(app, '/latest/meta-data/iam/security-credentials/', '10.0.0.8')).statusCode, 404, 'but no credentials');
});

t.test('a pod that asks for passthrough before the watch delivered it is served once it arrives', async (t) => {
  const { app } = await withPods(t, ['--pod-lookup-timeout', '5s']);
  const pending = get(app, '/latest/meta-data/placement/region', '10.0.0.51');
  await settle();
  app.kube.addPod(podInfo({ name: 'late', namespace: 'plain', ip: '10.0.0.51' }));
  t.equal((await pending).statusCode, 200);
});

t.test('with IMDSv2 required, listings and dated paths need a token too', async (t) => {
  const { app } = await withPods(t, ['--require-imdsv2']);
  for (const url of ['/', '/latest/', '/latest/meta-data/', '/2021-07-15/meta-data/iam/security-credentials/', '/2021-07-15/meta-data/placement/region/']) {
    t.equal((await get(app, url)).statusCode, 401, url);
  }
  const token = (await app.imds.inject({ method: 'PUT', url: '/latest/api/token', remoteAddress: '10.0.0.7', headers: { 'x-aws-ec2-metadata-token-ttl-seconds': '60' } })).body;
  t.equal((await get(app, '/2021-07-15/meta-data/iam/security-credentials/', '10.0.0.7', { 'x-aws-ec2-metadata-token': token })).body, 'spark-etl');
});

t.test('listings are counted under their own route label', async (t) => {
  const { app } = await withPods(t);
  await get(app, '/latest/meta-data/');
  t.match(await app.metrics.registry.metrics(), /corridor_requests_total\{route="listing",code="200"\} 1/);
});

/** `url` with every slash doubled (or tripled): what a client with a trailing-slash endpoint sends, and worse. */
const slashed = (url: string, run = '//') => url.replaceAll('/', run);

t.test('a run of slashes is one slash on every route: token, credentials, info, listings, dated versions, passthrough', async (t) => {
  const { app, upstream } = await withPods(t, ['--require-imdsv2']);
  const put = await app.imds.inject({ method: 'PUT', url: '//latest/api/token', remoteAddress: '10.0.0.7', headers: { 'x-aws-ec2-metadata-token-ttl-seconds': '60' } });
  t.same([put.statusCode, put.headers['x-aws-ec2-metadata-token-ttl-seconds']], [200, '60'], 'PUT //latest/api/token mints a token');
  const token = { 'x-aws-ec2-metadata-token': put.body };
  t.equal((await app.imds.inject({ method: 'PUT', url: '/latest///api//token', remoteAddress: '10.0.0.7', headers: { 'x-aws-ec2-metadata-token-ttl-seconds': '60' } })).statusCode, 200, 'runs anywhere in the token path');
  t.equal((await app.imds.inject({ method: 'GET', url: '//latest/api/token', remoteAddress: '10.0.0.7' })).statusCode, 405, 'GET on the token path is still 405');

  const single = ['/', '/latest/', '/latest/meta-data/', '/latest/meta-data/iam/', '/latest/meta-data/iam/security-credentials/',
    '/latest/meta-data/iam/security-credentials', '/latest/meta-data/iam/security-credentials-extended/', '/latest/meta-data/iam/info',
    '/latest/meta-data/placement/', '/latest/dynamic/instance-identity/', '/2021-07-15/meta-data/iam/security-credentials/',
    '/2021-07-15/meta-data/'];
  for (const url of single) {
    const want = await get(app, url, '10.0.0.7', token);
    for (const variant of [slashed(url), slashed(url, '///'), `/${url}`]) {
      const res = await get(app, variant, '10.0.0.7', token);
      t.same([res.statusCode, res.body], [want.statusCode, want.body], `${variant} answers as ${url}`);
    }
  }
  for (const url of ['/latest/meta-data/iam/security-credentials/spark-etl', '/2016-09-02/meta-data/iam/security-credentials-extended/spark-etl/']) {
    const res = await get(app, slashed(url), '10.0.0.7', token);
    t.same([res.statusCode, JSON.parse(res.body).Code], [200, 'Success'], `${slashed(url)}: the pod's own credentials`);
  }
  t.equal((await get(app, '//latest/meta-data/iam/security-credentials/', '10.0.0.7')).statusCode, 401, 'the IMDSv2 check applies to collapsed paths');

  for (const path of app.config.passthroughPaths) {
    upstream.asked.length = 0;
    const res = await get(app, slashed(path), '10.0.0.7', token);
    t.same([res.statusCode, res.body, upstream.asked], [200, `node:${path}`, [path]], `${slashed(path)} asks the node the fixed path ${path} only`);
  }
});

t.test('no run of slashes or encoded slash reaches a path the allowlist refuses', async (t) => {
  const { app, upstream } = await withPods(t);
  upstream.asked.length = 0;
  for (const url of ['//latest/user-data', '/latest//user-data', '//latest//user-data//', '//latest/meta-data/identity-credentials/ec2/security-credentials/ec2-instance',
    '//latest/meta-data/iam/security-credentials//node-role', '/latest//meta-data/iam/security-credentials/node-role', '//latest/dynamic/instance-identity/signature',
    '/latest/meta-data%2Fiam%2Fsecurity-credentials%2F', '/latest%2F%2Fuser-data', '/latest/meta-data/%2Fiam/security-credentials/', '//latest/meta-data/placement%2F..%2F..%2Fuser-data',
    '/latest/meta-data/placement//region/..//..//..//user-data', '//2021-07-15//user-data', '/latest/meta-data/iam/security-credentials/spark-etl%2F..%2F..%2Fuser-data']) {
    const res = await get(app, url);
    t.equal(res.statusCode, 404, `${url}: 404`);
    t.notMatch(res.body, /node:/, `${url}: nothing from the node`);
  }
  t.same(upstream.asked, [], 'the node was never asked');
  const own = await get(app, '/latest//meta-data/iam/security-credentials/');
  t.same([own.statusCode, own.body], [200, 'spark-etl'], 'the collapsed role list is the pod\'s own, never the node\'s');
});
