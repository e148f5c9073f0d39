export { runDemo, DEMO_PODS } from './run-demo.js';
export type { DemoOptions, DemoOutcome, DemoPod, RunningDemo } from './run-demo.js';
export { startFakeSts } from './fake-sts.js';
export type { AssumeCall, FakeSts, FakeStsOptions } from './fake-sts.js';
export { startFakeKubeApi, makePod, makeNamespace, makeServiceAccount, FakeKubeApi } from './fake-kube-api.js';
