// knip: files, exports and dependencies nothing uses. Tests count as users (an export a test
// needs is not dead); an export used only in its own file is reported.
import type { KnipConfig } from 'knip';

const config: KnipConfig = {
  // src/cli/corridor.ts, the image's entry point, knip finds itself: it is package.json's `bin`.
  entry: [
    'test/**/*.test.ts', // npm test
    'test/**/*.peer.ts', // npm run test:peers
    'test/node/*.node.ts', // npm run test:node
    'test/e2e/fixtures/*.ts', // run as processes of their own by test/e2e
    'bench/{run,flood,flooder,memory,namespace-memory,alloc,alloc-probe,sts-day,child,api-server-load}.ts', // npm run bench*, the processes they start and what they preload
    'test/helpers/agent-fleet-child.ts', // forked by test/helpers/agent-fleet.ts
  ],
  // demo/ is where the demo and its stand-ins go once they leave src/.
  project: ['src/**/*.ts', 'test/**/*.ts', 'bench/**/*.ts', 'demo/**/*.ts'],
  // iproute2's `ip` (test/helpers/netns.ts) and util-linux's `unshare` (test/image/, test/cli/agent-handover)
  // are system binaries, not packages.
  ignoreBinaries: ['ip', 'unshare'],
  // The AWS SDK's own modules, read on purpose by the peer tests: the version the SDK resolves
  // (test/peers/aws-sdk-js-v3.peer.ts) and its defaults-mode resolution (test/peers/imds-paths.test.ts).
  // tsx is loaded by `npm run test:unit` as a node argument (`--import=tsx`), which knip does not read;
  // esbuild is run by scripts/bundle.sh (`npm run bundle`), a shell script knip does not read.
  ignoreDependencies: ['@smithy/credential-provider-imds', '@smithy/core', 'tsx', 'esbuild'],
};

export default config;
