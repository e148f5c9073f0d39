import http from 'node:http';
import { makeNamespace, makePod } from './fake-kube-api.js';

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

/** A corridor pod (`pyspark` at 127.0.0.2, role spark-etl) and a pod of a namespace with no role (`no-role` at 127.0.0.3). */
export function pysparkAndNoRole(plainNamespace: string) {
  return [
    makeNamespace('gha', { 'iam.amazonaws.com/role': 'spark-etl' }),
    makeNamespace(plainNamespace, {}),
    makePod({ name: 'pyspark', namespace: 'gha', ip: '127.0.0.2', nodeName: 'node-a' }),
    makePod({ name: 'no-role', namespace: plainNamespace, ip: '127.0.0.3', nodeName: 'node-a' }),
  ];
}
