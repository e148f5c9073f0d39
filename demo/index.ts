import type { DemoModule } from '../src/cli/demo.js';
import { runDemo } from './run-demo.js';

export { runDemo } from './run-demo.js';
export { startFakeSts } from './fake-sts.js';
export type { FakeSts } from './fake-sts.js';
export { startFakeKubeApi, makePod, makeNamespace, FakeKubeApi } from './fake-kube-api.js';

// `corridor demo` loads this module by name (src/cli/demo.ts): its runDemo must be what the command expects.
runDemo satisfies DemoModule['runDemo'];
