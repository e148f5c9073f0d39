import type { FlagSpec, FlagValues } from '../config/index.js';
import { defineCommand, processIo } from './command.js';
import { EXIT } from './exit-codes.js';

const DEMO_FLAGS = [
  { name: 'port', kind: 'port', default: '8181', help: 'metadata server port on 127.0.0.1' },
  { name: 'admin-port', kind: 'port', default: '9181', help: 'admin server port on 127.0.0.1' },
  { name: 'once', kind: 'boolean', default: 'false', help: 'exit after printing instead of keeping the agent up' },
  { name: 'log-level', kind: 'string', default: 'error', help: 'the agent\'s log level during the demo' },
] as const satisfies readonly FlagSpec[];

const demoCommand = defineCommand({ name: 'demo', flags: DEMO_FLAGS, input: ({ values }) => values, run: showDemo });

/** What `corridor demo` runs, from demo/ (demo/index.ts checks that its runDemo fits). */
export interface DemoModule {
  runDemo(options: { port: number; adminPort: number; logLevel: string; out: (line: string) => void }): Promise<{
    /** Each pod in each mode: the role STS says its credentials are of, and the role (name) it should have had; undefined: none. */
    outcomes: ReadonlyArray<{ callerArn: string | undefined; expectedRole: string | undefined }>;
    stop(): Promise<void>;
  }>;
}

/** `corridor demo`: exits 0 when every pod got exactly what the story says, in both credential modes. */
export async function runDemoCommand(argv: string[]): Promise<number> {
  return demoCommand.main(argv, processIo());
}

async function showDemo(values: FlagValues<typeof DEMO_FLAGS>): Promise<number> {
  const demoModule = await loadDemo();
  if (demoModule === undefined) return EXIT.usage;
  const demo = await demoModule.runDemo({
    port: values.port,
    adminPort: values.adminPort,
    logLevel: values.logLevel,
    out: (line) => process.stdout.write(`${line}\n`),
  });
  const asExpected = demo.outcomes.length > 0 && demo.outcomes.every(gotWhatItShould);
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

/** A pod got the credentials of exactly the role it should have had, or none when it should have had none. */
function gotWhatItShould(outcome: { callerArn: string | undefined; expectedRole: string | undefined }): boolean {
  if (outcome.expectedRole === undefined) return outcome.callerArn === undefined;
  return outcome.callerArn?.includes(`:assumed-role/${outcome.expectedRole}/`) === true;
}

/**
 * The demo and its stand-ins (a Kubernetes API and STS that need no cloud account) live in demo/,
 * outside src/, so the image does not carry them; a checkout built with `npm run build` has them.
 */
async function loadDemo(): Promise<DemoModule | undefined> {
  // A specifier TypeScript does not follow: src/ is compiled (into the image) without demo/.
  const specifier = '../../demo/index.js';
  try {
    return (await import(specifier)) as DemoModule;
  } catch (error) {
    process.stderr.write(`corridor demo: the demo is not part of this build (run \`npm start\` in a checkout): ${(error as Error).message}\n`);
    return undefined;
  }
}
