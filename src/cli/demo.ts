import type { FlagSpec, FlagValues } from '../config/index.js';
import { runDemo } from '../demo/index.js';
import { defineCommand, processIo } from './command.js';
import { EXIT } from './exit-codes.js';

const DEMO_FLAGS = [
  { name: 'port', kind: 'port', default: '8181', help: 'metadata server port on 127.0.0.1' },
  { name: 'admin-port', kind: 'port', default: '9181', help: 'admin server port on 127.0.0.1' },
  { name: 'once', kind: 'boolean', default: 'false', help: 'exit after printing instead of keeping the agent up' },
  { name: 'log-level', kind: 'string', default: 'error', help: 'the agent\'s log level during the demo' },
] as const satisfies readonly FlagSpec[];

const demoCommand = defineCommand({ name: 'demo', flags: DEMO_FLAGS, input: ({ values }) => values, run: showDemo });

/** `corridor demo`: exits 0 when every pod got exactly what the story says. */
export async function runDemoCommand(argv: string[]): Promise<number> {
  return demoCommand.main(argv, processIo());
}

async function showDemo(values: FlagValues<typeof DEMO_FLAGS>): Promise<number> {
  const demo = await runDemo({
    port: values.port,
    adminPort: values.adminPort,
    logLevel: values.logLevel,
    out: (line) => process.stdout.write(`${line}\n`),
  });
  const [driver, writer, intruder] = demo.outcomes;
  const asExpected =
    driver?.callerArn?.includes(':assumed-role/spark-etl/') === true &&
    writer?.callerArn?.includes(':assumed-role/spark-writer/') === true &&
    intruder?.callerArn === undefined;
  if (!values.once) {
    process.stdout.write('\nthe agent keeps running; press Ctrl-C to stop\n');
    await new Promise<void>((resolve) => {
      process.once('SIGINT', resolve);
      process.once('SIGTERM', resolve);
    });
  }
  await demo.stop();
  return asExpected ? EXIT.ok : EXIT.no;
}
