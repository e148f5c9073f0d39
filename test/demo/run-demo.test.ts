import t from 'tap';
import { runDemo } from '../../demo/index.js';
import { runDemoCommand } from '../../src/cli/demo.js';

const SESSION = 'corridor.gha.demo-node';
const HOUR_MS = 3_600_000;

// One run of the demo (two agents and the stand-ins), read by every test below.
const lines: string[] = [];
const running = await runDemo({ port: 0, adminPort: 0, logLevel: 'silent', out: (line) => lines.push(line) });
t.teardown(() => running.stop());
const text = lines.join('\n');
const outcome = (mode: string, name: string) => running.outcomes.find((o) => o.mode === mode && o.pod.name === name);

t.test('the demo in node-role mode: the SDK gets each allowed pod its role through the agent, 1 h sessions, and the intruder nothing', async (t) => {
  t.equal(outcome('node-role', 'spark-driver')?.callerArn, `arn:aws:sts::123456789012:assumed-role/spark-etl/${SESSION}`);
  t.equal(outcome('node-role', 'spark-writer')?.callerArn, `arn:aws:sts::123456789012:assumed-role/spark-writer/${SESSION}`);
  t.equal(outcome('node-role', 'notebook')?.callerArn, `arn:aws:sts::123456789012:assumed-role/spark-etl/${SESSION}`, 'the node role is trusted whatever the ServiceAccount');
  t.equal(outcome('node-role', 'intruder')?.callerArn, undefined);
  t.match(outcome('node-role', 'intruder')?.why, /not-allowed/);
  const expiration = outcome('node-role', 'spark-driver')?.expiration?.getTime() ?? 0;
  t.ok(expiration - Date.now() <= HOUR_MS, 'role chaining: at most 1 h');
  t.match(text, /gha1\/intruder \(127\.0\.0\.4, serviceaccount default\).*\n {2}got no credentials/);
  t.match(text, new RegExp(`node-role agent: +metrics ${running.agent.adminUrl}/metrics`));
});

t.test('the demo in web-identity mode: pods of the trusted ServiceAccount get their roles for 12 h with no AWS credentials on the agent; another ServiceAccount is clearly denied by STS', async (t) => {
  t.equal(outcome('web-identity', 'spark-driver')?.callerArn, `arn:aws:sts::123456789012:assumed-role/spark-etl/${SESSION}`);
  t.equal(outcome('web-identity', 'spark-writer')?.callerArn, `arn:aws:sts::123456789012:assumed-role/spark-writer/${SESSION}`);
  const expiration = outcome('web-identity', 'spark-driver')?.expiration?.getTime() ?? 0;
  t.ok(expiration - Date.now() > 11 * HOUR_MS, 'a 12 h session: no role chaining');
  t.match(outcome('web-identity', 'spark-driver')?.why, /the role must trust system:serviceaccount:gha:spark$/);

  const notebook = outcome('web-identity', 'notebook');
  t.equal(notebook?.callerArn, undefined, 'corridor allows it, the role\'s trust does not');
  t.match(notebook?.why, /the role must trust system:serviceaccount:gha:notebook; STS refused: AccessDenied: Not authorized to perform sts:AssumeRoleWithWebIdentity/);
  t.equal(outcome('web-identity', 'intruder')?.callerArn, undefined);
  t.match(outcome('web-identity', 'intruder')?.why, /not-allowed/);
  t.match(text, /== web-identity: agent on http:\/\/127\.0\.0\.1:\d+/);
  t.match(text, new RegExp(`web-identity agent: metrics ${running.webIdentityAgent.adminUrl}/metrics`));
});

t.test('every outcome is what its pod should get in its mode (what `corridor demo` exits 0 on)', async (t) => {
  t.equal(running.outcomes.length, 8, 'four pods, two modes');
  for (const outcome of running.outcomes) {
    const got = /:assumed-role\/([^/]+)\//.exec(outcome.callerArn ?? '')?.[1];
    t.equal(got, outcome.expectedRole, `${outcome.mode} ${outcome.pod.namespace}/${outcome.pod.name}`);
  }
});

t.test('`corridor demo --once` exits 0: the command finds every pod got what it should in both modes', async (t) => {
  const stdout = t.capture(process.stdout, 'write', () => true);
  const code = await runDemoCommand(['--once', '--port', '0', '--admin-port', '0', '--log-level', 'silent']);
  t.equal(code, 0);
  t.match(stdout().map((call) => String(call.args[0])).join(''), /== web-identity: agent on /);
});
