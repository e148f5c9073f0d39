import http from 'node:http';
import { join } from 'node:path';
import type { Test } from 'tap';
import { parseAgentConfig } from '../../src/config/index.js';
import { createLogger } from '../../src/log/index.js';
import { startAgent, type RunningAgent } from '../../src/main.js';
import { loopbackAgentFlags, writeTempKubeconfig } from '../../demo/loopback.js';
import { sink, type LogLine } from './log-sink.js';
import { fakeKubeApi, type FakeKubeApi, type KubeObject } from './fake-kube-api.js';
import { MOTO_CREDENTIALS } from './moto.js';

export interface TestAgent {
  agent: RunningAgent;
  logs: LogLine[];
  /** A request to the agent from a pod's source address (127.0.0.x stands in for pod IPs). */
  request(from: string, path: string, options?: { method?: string; headers?: Record<string, string> }): Promise<{ status: number; body: string; headers: http.IncomingHttpHeaders }>;
  /** Resolves after the agent's directory has applied the next change. */
  nextChange(): Promise<void>;
  /** Resolves with the first log line, logged so far or later, that `match` accepts. */
  waitForLog(match: (line: LogLine) => boolean): Promise<LogLine>;
}

export interface Harness extends TestAgent {
  kube: FakeKubeApi;
}

const BASE_ROLE_ARN = 'arn:aws:iam::123456789012:role/';

/**
 * The real agent (startAgent, real watches, real STS adapter) on 127.0.0.1 with free ports,
 * against the Kubernetes API stand-in and the given STS endpoint (moto in integration tests).
 */
export async function startHarness(t: Test, options: { objects: KubeObject[]; stsEndpoint: string; flags?: string[] }): Promise<Harness> {
  const kube = await fakeKubeApi(t, { objects: options.objects });
  const agent = await startTestAgent(t, { kubeConfigText: kube.kubeConfigText(), stsEndpoint: options.stsEndpoint, flags: options.flags });
  return { ...agent, kube };
}

/**
 * The real agent (startAgent, real watches, real STS adapter with moto's static keys) on
 * 127.0.0.1 with free ports, node node-a, against whatever API server `kubeConfigText` names
 * (the stand-in, or a real kube-apiserver in the peer tests) and the given STS endpoint.
 */
export async function startTestAgent(t: Test, options: { kubeConfigText: string; stsEndpoint: string; flags?: string[] }): Promise<TestAgent> {
  const kubeconfig = writeTempKubeconfig(options.kubeConfigText, 'corridor-test-');
  t.teardown(() => kubeconfig.remove());
  const parsed = parseAgentConfig(
    [
      // The test's own key directory, never the machine's /var/lib/corridor; flags may override it.
      ...loopbackAgentFlags({ nodeName: 'node-a', kubeconfig: kubeconfig.path, stsEndpoint: options.stsEndpoint, baseRoleArn: BASE_ROLE_ARN, tokenKeyDir: join(kubeconfig.dir, 'token-keys') }),
      ...(options.flags ?? []),
    ],
    {},
  );
  if (!parsed.ok) throw new Error(parsed.errors.join('; '));
  const logs = sink();
  const agent = await startAgent(parsed.config, { nodeCredentials: MOTO_CREDENTIALS, logger: createLogger('info', logs), env: {} });
  t.teardown(() => agent.close());
  const imds = new URL(agent.imdsUrl);
  return {
    agent,
    logs: logs.lines,
    request(from, path, { method = 'GET', headers = {} } = {}) {
      return new Promise((resolve, reject) => {
        const req = http.request({ host: imds.hostname, port: imds.port, path, method, headers, localAddress: from, agent: false }, (res) => {
          let body = '';
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => (body += chunk));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers }));
        });
        req.on('error', reject);
        req.end();
      });
    },
    waitForLog: (match) => logs.waitFor(match),
    nextChange() {
      return new Promise((resolve) => {
        let done = false;
        agent.directory.onChange(() => {
          if (!done) {
            done = true;
            resolve();
          }
        });
      });
    },
  };
}
