import t from 'tap';
import { runDemo } from '../../demo/index.js';

t.test('the demo: the SDK gets each allowed pod its role through the agent, and the intruder nothing', async (t) => {
  const lines: string[] = [];
  const demo = await runDemo({ port: 0, adminPort: 0, logLevel: 'silent', out: (line) => lines.push(line) });
  t.teardown(() => demo.stop());
  const [driver, writer, intruder] = demo.outcomes;
  t.equal(driver?.callerArn, 'arn:aws:sts::123456789012:assumed-role/spark-etl/corridor.gha.demo-node');
  t.equal(writer?.callerArn, 'arn:aws:sts::123456789012:assumed-role/spark-writer/corridor.gha.demo-node');
  t.equal(intruder?.callerArn, undefined);
  t.match(intruder?.why, /not-allowed/);
  const text = lines.join('\n');
  t.match(text, /metrics: http:\/\/127\.0\.0\.1:\d+\/metrics/);
  t.match(text, /gha1\/intruder \(127\.0\.0\.4\).*\n {2}got no credentials/);
});
