import { Registry } from 'prom-client';
import type { Test } from 'tap';
import { buildApp, type App, type AppConfig } from '../../src/app.js';
import { parseAgentConfig, sessionSettings } from '../../src/config/index.js';
import { createSessionCache, startPrefetch } from '../../src/credentials/index.js';
import type { MetadataUpstream } from '../../src/node-metadata/index.js';
import { createLogger } from '../../src/log/index.js';
import { createMetrics, type Metrics } from '../../src/metrics/index.js';
import { FakeAssumer } from './fake-assumer.js';
import { FakeDirectory } from './fake-directory.js';
import { FakeTime } from './fake-time.js';
import { sink, type LogLine } from './log-sink.js';

export interface Built extends App {
  directory: FakeDirectory;
  assumer: FakeAssumer;
  time: FakeTime;
  metrics: Metrics;
  /** Every JSON log line written so far. */
  logs: LogLine[];
  config: AppConfig;
}

export const BASE_ROLE_ARN = 'arn:aws:iam::123456789012:role/';

/** The agent's app with fakes for the directory, STS and time; closed at the end of the test. */
export async function build(t: Test, flags: string[] = [], upstream?: MetadataUpstream, options: { noBaseRoleArn?: boolean } = {}): Promise<Built> {
  const base = options.noBaseRoleArn ? [] : ['--base-role-arn', BASE_ROLE_ARN];
  const parsed = parseAgentConfig(['--node-name', 'node-a', '--host-ip', '127.0.0.1', ...base, '--pod-lookup-timeout', '50ms', ...flags], {});
  if (!parsed.ok) throw new Error(parsed.errors.join('; '));
  const config = parsed.config;
  const logs = sink();
  const logger = createLogger('debug', logs);
  const time = new FakeTime();
  const metrics = createMetrics(new Registry(), 'test', { defaultMetrics: false });
  const assumer = new FakeAssumer(time);
  const directory = new FakeDirectory();
  const credentials = createSessionCache({
    assumer,
    clock: time,
    scheduler: time,
    random: () => 0.5,
    ...sessionSettings(config),
    metrics,
    logger,
  });
  const app = await buildApp(
    { directory, credentials, beforeScrape: () => credentials.updateGauges(), clock: time, scheduler: time, metrics, logger, upstream: upstream ?? { get: async () => ({ status: 200, body: 'eu-west-1', contentType: 'text/plain' }) } },
    config,
  );
  // As main.ts does.
  startPrefetch({ pods: directory, roles: app.resolver, credentials });
  t.teardown(async () => {
    credentials.close();
    await app.imds.close();
    await app.admin.close();
  });
  return { ...app, directory, assumer, time, metrics, logs: logs.lines, config };
}
