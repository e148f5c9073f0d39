import type { DemoModule } from '../src/cli/demo.js';
import { runDemo } from './run-demo.js';

export { runDemo, DEMO_PODS } from './run-demo.js';
export type { DemoOptions, DemoOutcome, DemoPod, RunningDemo } from './run-demo.js';
export { startFakeSts } from './fake-sts.js';
export type { AssumeCall, FakeSts, FakeStsOptions } from './fake-sts.js';
export { startFakeKubeApi, makePod, makeNamespace, makeServiceAccount, FakeKubeApi } from './fake-kube-api.js';

// `corridor demo` loads this module by name (src/cli/demo.ts): its runDemo must be what the command expects.
runDemo satisfies DemoModule['runDemo'];
