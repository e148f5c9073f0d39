import http from 'node:http';
import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { fromInstanceMetadata } from '@aws-sdk/credential-providers';
import { makeNamespace, makePod } from './fake-kube-api.js';
import type { ClientResult } from './sdk-peers.js';

/** The SDK's IMDS client uses Node's global agent; binding it to a pod's IP makes the agent see that pod. */
export async function asPod<T>(ip: string, endpoint: string, fn: () => Promise<T>): Promise<T> {
  const previous = http.globalAgent;
  http.globalAgent = new http.Agent({ localAddress: ip });
  process.env.AWS_EC2_METADATA_SERVICE_ENDPOINT = endpoint;
  try {
    return await fn();
  } finally {
    http.globalAgent.destroy();
    http.globalAgent = previous;
    delete process.env.AWS_EC2_METADATA_SERVICE_ENDPOINT;
  }
}

/**
 * The AWS SDK for JavaScript v3 as the pod at `ip` runs it: fromInstanceMetadata (the provider the
 * default chain ends at on EC2) feeding one STSClient, `rounds` GetCallerIdentity calls
 * `intervalMs` apart. Each round records when it began and the key it was signed with.
 */
export function runJsSdkAsPod(ip: string, imdsUrl: string, stsEndpoint: string, rounds: number, intervalMs: number): Promise<ClientResult> {
  return asPod(ip, imdsUrl, async () => {
    const provider = fromInstanceMetadata({ timeout: 2000, maxRetries: 0 });
    let lastKey: string | undefined;
    // Only observes which key the client was handed; the client decides when to ask.
    const observed = async (): ReturnType<typeof provider> => {
      const credentials = await provider();
      lastKey = credentials.accessKeyId;
      return credentials;
    };
    const sts = new STSClient({ region: 'us-east-1', endpoint: stsEndpoint, credentials: observed });
    const result: ClientResult = { sdk: 'aws-sdk-js-v3', rounds: [], failures: 0 };
    try {
      for (let i = 0; i < rounds; i++) {
        const at = Date.now();
        try {
          const identity = await sts.send(new GetCallerIdentityCommand({}));
          result.rounds.push({ at, arn: identity.Arn, key: lastKey });
        } catch (error) {
          result.failures++;
          result.rounds.push({ at, error: String(error) });
        }
        if (i + 1 < rounds) await new Promise((resolve) => setTimeout(resolve, intervalMs));
      }
    } finally {
      sts.destroy();
    }
    return result;
  });
}

/** A corridor pod (`pyspark` at 127.0.0.2, role spark-etl) and a pod of a namespace with no role (`no-role` at 127.0.0.3). */
export function pysparkAndNoRole(plainNamespace: string) {
  return [
    makeNamespace('gha', { 'iam.amazonaws.com/role': 'spark-etl' }),
    makeNamespace(plainNamespace, {}),
    makePod({ name: 'pyspark', namespace: 'gha', ip: '127.0.0.2', nodeName: 'node-a' }),
    makePod({ name: 'no-role', namespace: plainNamespace, ip: '127.0.0.3', nodeName: 'node-a' }),
  ];
}
