import t from 'tap';
import { parseAgentConfig } from '../../src/config/index.js';

const required = ['--node-name', 'node-a', '--host-ip', '10.0.0.1'];

t.test('defaults follow the design: 1h sessions refreshed 45m before expiry, 25m floor', async (t) => {
  const result = parseAgentConfig(required, {});
  t.ok(result.ok);
  if (!result.ok) return;
  const c = result.config;
  t.equal(c.port, 8181);
  t.equal(c.adminPort, 9181);
  t.equal(c.sessionDurationMs, 3_600_000);
  t.equal(c.refreshBeforeMs, 45 * 60_000);
  t.equal(c.minRemainingMs, 25 * 60_000);
  t.equal(c.podLookupTimeoutMs, 1000);
  t.equal(c.kubeStartJitterMs, 200, 'a small spread: a new node waits for it');
  t.equal(c.imdsUpstream, 'http://169.254.169.254');
  t.equal(c.requireImdsv2, false);
  t.equal(c.annotations.role, 'iam.amazonaws.com/role');
  t.ok(Object.isFrozen(c));
});

t.test('every flag can come from a CORRIDOR_ environment variable and flags win', async (t) => {
  const result = parseAgentConfig(['--port', '8282'], {
    CORRIDOR_NODE_NAME: 'node-b',
    CORRIDOR_HOST_IP: '10.0.0.2',
    CORRIDOR_PORT: '9999',
    CORRIDOR_REQUIRE_IMDSV2: 'true',
    CORRIDOR_SESSION_DURATION: '3600',
    CORRIDOR_REFRESH_BEFORE: '30m',
    CORRIDOR_MIN_REMAINING: '21m',
    CORRIDOR_BASE_ROLE_ARN: 'arn:aws:iam::123456789012:role/teams',
  });
  t.ok(result.ok, JSON.stringify(!result.ok && result.errors));
  if (!result.ok) return;
  t.equal(result.config.nodeName, 'node-b');
  t.equal(result.config.port, 8282);
  t.equal(result.config.requireImdsv2, true);
  t.equal(result.config.sessionDurationMs, 3_600_000);
  t.equal(result.config.minRemainingMs, 21 * 60_000);
  t.equal(result.config.baseRoleArn, 'arn:aws:iam::123456789012:role/teams/', 'a trailing slash is added');
});

t.test('flags accept --name=value and bare booleans', async (t) => {
  const result = parseAgentConfig([...required, '--port=8282', '--service-account-roles', '--pod-lookup-timeout=250ms'], {});
  t.ok(result.ok);
  if (!result.ok) return;
  t.equal(result.config.port, 8282);
  t.equal(result.config.serviceAccountRoles, true);
  t.equal(result.config.podLookupTimeoutMs, 250);
});

t.test('durations out of order are refused with one clear message', async (t) => {
  const result = parseAgentConfig([...required, '--refresh-before', '10m', '--min-remaining', '20m'], {});
  t.notOk(result.ok);
  if (result.ok) return;
  t.same(result.errors, ['durations must satisfy min-remaining < refresh-before < session-duration']);
});

t.test('durations are not clamped to STS limits', async (t) => {
  const result = parseAgentConfig([...required, '--session-duration', '2m', '--refresh-before', '90s', '--min-remaining', '30s', '--allow-unsafe-min-remaining'], {});
  t.ok(result.ok);
  if (result.ok) t.equal(result.config.sessionDurationMs, 120_000);
});

t.test('all bad values are reported together', async (t) => {
  const result = parseAgentConfig(['--port', '70000', '--session-duration', 'soon', '--base-role-arn', 'arn:aws:s3:::b', '--bogus', 'x', '--log-level', 'loud', '--sts-endpoint', 'ftp://x'], {});
  t.notOk(result.ok);
  if (result.ok) return;
  t.match(result.errors.join('\n'), /--port: "70000" is not a port/);
  t.match(result.errors.join('\n'), /--session-duration: "soon" is not a duration/);
  t.match(result.errors.join('\n'), /--base-role-arn/);
  t.match(result.errors.join('\n'), /unknown flag --bogus/);
  t.match(result.errors.join('\n'), /--log-level/);
  t.match(result.errors.join('\n'), /--sts-endpoint/);
  t.match(result.errors.join('\n'), /--node-name \(or CORRIDOR_NODE_NAME\) is required/);
});

t.test('credential paths and user-data can never be put on the passthrough allowlist', async (t) => {
  for (const path of ['/latest/meta-data/iam/security-credentials/', '/latest/user-data', '/latest/meta-data/identity-credentials/ec2/security-credentials/ec2-instance']) {
    const result = parseAgentConfig([...required, '--passthrough-paths', path], {});
    t.notOk(result.ok, path);
  }
});

t.test('AWS_REGION picks the STS region unless the flag says otherwise', async (t) => {
  const fromEnv = parseAgentConfig(required, { AWS_REGION: 'eu-west-1' });
  t.equal(fromEnv.ok && fromEnv.config.stsRegion, 'eu-west-1');
  const fromFlag = parseAgentConfig([...required, '--sts-region', 'us-west-2'], { AWS_REGION: 'eu-west-1' });
  t.equal(fromFlag.ok && fromFlag.config.stsRegion, 'us-west-2');
});

t.test('CORRIDOR_STS_REGION wins over AWS_REGION, as the flag does', async (t) => {
  const result = parseAgentConfig(required, { AWS_REGION: 'eu-west-1', CORRIDOR_STS_REGION: 'ap-south-1' });
  t.equal(result.ok && result.config.stsRegion, 'ap-south-1');
});

t.test('an empty passthrough list, from the flag or CORRIDOR_PASSTHROUGH_PATHS, proxies nothing; unset keeps the default list', async (t) => {
  const fromFlag = parseAgentConfig([...required, '--passthrough-paths='], {});
  t.same(fromFlag.ok && fromFlag.config.passthroughPaths, []);
  const fromEnv = parseAgentConfig(required, { CORRIDOR_PASSTHROUGH_PATHS: '' });
  t.same(fromEnv.ok && fromEnv.config.passthroughPaths, []);
  const unset = parseAgentConfig(required, {});
  t.ok(unset.ok && unset.config.passthroughPaths.includes('/latest/meta-data/placement/region'));
});

t.test('an empty duration, port, switch or string, from a flag or the environment, is refused rather than read as the default', async (t) => {
  const fromEnv = parseAgentConfig(required, { CORRIDOR_SESSION_DURATION: '', CORRIDOR_ADMIN_PORT: '', CORRIDOR_REQUIRE_IMDSV2: '', CORRIDOR_BASE_ROLE_ARN: '', CORRIDOR_STS_REGION: '' });
  t.notOk(fromEnv.ok);
  if (!fromEnv.ok) {
    t.same(fromEnv.errors, [
      '--admin-port: empty value in CORRIDOR_ADMIN_PORT (unset it for the default, 9181)',
      '--base-role-arn: empty value in CORRIDOR_BASE_ROLE_ARN (unset it to set none)',
      '--sts-region: empty value in CORRIDOR_STS_REGION (unset it for the default, us-east-1)',
      '--session-duration: empty value in CORRIDOR_SESSION_DURATION (unset it for the default, 1h)',
      '--require-imdsv2: empty value in CORRIDOR_REQUIRE_IMDSV2 (unset it for the default, false)',
    ]);
  }
  const fromFlag = parseAgentConfig([...required, '--rate-limit=', '--pod-lookup-timeout='], {});
  t.notOk(fromFlag.ok);
  if (!fromFlag.ok) {
    t.same(fromFlag.errors, [
      '--pod-lookup-timeout: empty value (leave the flag out for the default, 1s)',
      '--rate-limit: empty value (leave the flag out for the default, 100)',
    ]);
  }
});

t.test('--host-ipv6: the node\'s IPv6 address, taken from status.hostIPs when given that; none by default', async (t) => {
  const hostIpv6 = (env: NodeJS.ProcessEnv, argv: string[] = []) => {
    const result = parseAgentConfig([...required, ...argv], env);
    return result.ok ? result.config.hostIpv6 : result.errors;
  };
  t.equal(hostIpv6({}), undefined);
  t.equal(hostIpv6({ CORRIDOR_HOST_IPV6: '' }), undefined, 'empty is none');
  t.equal(hostIpv6({ CORRIDOR_HOST_IPV6: '10.0.0.1' }), undefined, 'an IPv4-only node\'s status.hostIPs');
  t.equal(hostIpv6({ CORRIDOR_HOST_IPV6: '10.0.0.1,2600:1F18:0::7' }), '2600:1f18::7', 'a dual-stack node\'s, in socket form');
  t.equal(hostIpv6({}, ['--host-ipv6', 'fd00:77::1']), 'fd00:77::1');
  t.match(hostIpv6({}, ['--host-ipv6', 'fd00::zz']), [/--host-ipv6: "fd00::zz" is not an IP address/]);
});

t.test('--session-scope: namespace by default, pod from the flag or CORRIDOR_SESSION_SCOPE, anything else refused', async (t) => {
  const byDefault = parseAgentConfig(required, {});
  t.equal(byDefault.ok && byDefault.config.sessionScope, 'namespace');
  const flag = parseAgentConfig([...required, '--session-scope', 'pod'], {});
  t.equal(flag.ok && flag.config.sessionScope, 'pod');
  const env = parseAgentConfig(required, { CORRIDOR_SESSION_SCOPE: 'pod' });
  t.equal(env.ok && env.config.sessionScope, 'pod');
  const bad = parseAgentConfig([...required, '--session-scope', 'node'], {});
  t.notOk(bad.ok);
  if (!bad.ok) t.same(bad.errors, ['--session-scope: "node" is not one of namespace, pod']);
});

t.test('the session policy annotation keys default to iam.amazonaws.com/session-policy(-arns) and come from flags or CORRIDOR_ env', async (t) => {
  const defaults = parseAgentConfig(required, {});
  t.ok(defaults.ok);
  if (!defaults.ok) return;
  t.equal(defaults.config.annotations.sessionPolicy, 'iam.amazonaws.com/session-policy');
  t.equal(defaults.config.annotations.sessionPolicyArns, 'iam.amazonaws.com/session-policy-arns');
  const set = parseAgentConfig([...required, '--session-policy-annotation', 'example.com/session-policy'], { CORRIDOR_SESSION_POLICY_ARNS_ANNOTATION: 'example.com/session-policy-arns' });
  t.ok(set.ok);
  if (!set.ok) return;
  t.equal(set.config.annotations.sessionPolicy, 'example.com/session-policy');
  t.equal(set.config.annotations.sessionPolicyArns, 'example.com/session-policy-arns');
  t.ok(Object.isFrozen(set.config.annotations));
});

t.test('a --min-remaining below the 20m floor (botocore then signs with expired keys) is refused, naming the flag, the value, the floor and why', async (t) => {
  for (const [value, shown] of [['60s', '1m'], ['19m59s', '1199s'], ['10m', '10m']] as const) {
    const result = parseAgentConfig([...required, '--min-remaining', value], {});
    t.notOk(result.ok, `${value} refused`);
    if (result.ok) continue;
    t.equal(result.errors.length, 1, 'one error');
    t.match(result.errors[0], new RegExp(`^--min-remaining: ${shown} is below the 20m floor: botocore .* expired keys \\(--allow-unsafe-min-remaining accepts it anyway\\)$`));
  }
  const atFloor = parseAgentConfig([...required, '--min-remaining', '20m'], {});
  t.ok(atFloor.ok && atFloor.config.minRemainingMs === 20 * 60_000, 'the floor itself is accepted');
  const fromEnv = parseAgentConfig(required, { CORRIDOR_MIN_REMAINING: '5m' });
  t.notOk(fromEnv.ok, 'CORRIDOR_MIN_REMAINING is held to the same floor');
});

t.test('--allow-unsafe-min-remaining (or its environment variable) accepts a --min-remaining below the floor', async (t) => {
  const flag = parseAgentConfig([...required, '--session-duration', '30s', '--refresh-before', '22500ms', '--min-remaining', '12500ms', '--allow-unsafe-min-remaining'], {});
  t.ok(flag.ok && flag.config.minRemainingMs === 12_500, 'accepted with the flag');
  const env = parseAgentConfig([...required, '--min-remaining', '60s'], { CORRIDOR_ALLOW_UNSAFE_MIN_REMAINING: 'true' });
  t.ok(env.ok && env.config.minRemainingMs === 60_000, 'accepted with CORRIDOR_ALLOW_UNSAFE_MIN_REMAINING=true');
  const order = parseAgentConfig([...required, '--min-remaining', '50m', '--allow-unsafe-min-remaining'], {});
  t.notOk(order.ok, 'the order of the durations is still checked');
});

t.test('--pod-lookup-timeout 0 answers an unseen IP at once; 0 for any other duration is refused', async (t) => {
  const zero = parseAgentConfig(['--node-name', 'n', '--host-ip', '10.0.0.1', '--pod-lookup-timeout', '0'], {});
  t.ok(zero.ok);
  if (zero.ok) t.equal(zero.config.podLookupTimeoutMs, 0);
  const fromEnv = parseAgentConfig(['--node-name', 'n', '--host-ip', '10.0.0.1'], { CORRIDOR_POD_LOOKUP_TIMEOUT: '0s' });
  t.ok(fromEnv.ok && fromEnv.config.podLookupTimeoutMs === 0, 'CORRIDOR_POD_LOOKUP_TIMEOUT=0s too');
  const other = parseAgentConfig(['--node-name', 'n', '--host-ip', '10.0.0.1', '--session-duration', '0'], {});
  t.notOk(other.ok);
  if (!other.ok) t.match(other.errors.join('\n'), /--session-duration: "0" is not a duration/);
});

t.test('--kube-start-jitter takes 0 (list at once) and refuses more than a minute, which new nodes would wait for', async (t) => {
  const required = ['--node-name', 'n', '--host-ip', '10.0.0.1'];
  const zero = parseAgentConfig(required, { CORRIDOR_KUBE_START_JITTER: '0' });
  t.ok(zero.ok && zero.config.kubeStartJitterMs === 0);
  const long = parseAgentConfig([...required, '--kube-start-jitter', '2m'], {});
  t.notOk(long.ok);
  if (!long.ok) t.match(long.errors.join('\n'), /--kube-start-jitter: 2m is more than 1m/);
});

t.test('--kube-api-content-type: protobuf by default, application/json from the flag or CORRIDOR_KUBE_API_CONTENT_TYPE, anything else refused', async (t) => {
  const byDefault = parseAgentConfig(required, {});
  t.equal(byDefault.ok && byDefault.config.kubeApiContentType, 'application/vnd.kubernetes.protobuf');
  const env = parseAgentConfig(required, { CORRIDOR_KUBE_API_CONTENT_TYPE: 'application/json' });
  t.equal(env.ok && env.config.kubeApiContentType, 'application/json');
  const bad = parseAgentConfig([...required, '--kube-api-content-type', 'application/yaml'], {});
  t.notOk(bad.ok);
  if (!bad.ok) t.match(bad.errors.join('\n'), /--kube-api-content-type: "application\/yaml" is not one of application\/vnd\.kubernetes\.protobuf, application\/json/);
});
