import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { AGENT_FLAGS, parseAgentConfig } from '../src/config/index.js';
import { startAgent, type RunningAgent } from '../src/main.js';
import type { ChildReply, ChildRequest, ChildStats } from './protocol.js';

/**
 * A server under load, in a process of its own so that its CPU and memory are its own and it
 * does not share an event loop with the load generator:
 * - `agent`: the real composition root (startAgent) with the real STS adapter, pointed at the
 *   stand-ins the parent runs; static keys, so the SDK never looks for the node's identity.
 * - `bare`: node:http answering every request with fixed bytes (the runtime's limit).
 */

function send(message: ChildReply): void {
  process.send?.(message);
}

function stats(): ChildStats {
  const cpu = process.cpuUsage();
  const memory = process.memoryUsage();
  return { rss: memory.rss, heapUsed: memory.heapUsed, heapTotal: memory.heapTotal, external: memory.external, cpuMicros: cpu.user + cpu.system, at: performance.now() };
}

async function startAgentServer(args: string[], stsEndpoint: string, defaultLimits: boolean): Promise<{ url: string; adminUrl: string; stop(): Promise<void> }> {
  // One benchmark pod asks far more often than any limit allows; the limiter stays on (its cost
  // is part of the hot path) with a budget that never runs out, except where the limit itself
  // is what is measured.
  const known = new Set(AGENT_FLAGS.map((flag) => flag.name));
  const extra = known.has('rate-limit') && !defaultLimits ? ['--rate-limit', '1000000000', '--rate-limit-burst', '1000000000'] : [];
  const parsed = parseAgentConfig([...args, ...extra], {});
  if (!parsed.ok) throw new Error(`agent config: ${parsed.errors.join('; ')}`);
  const agent: RunningAgent = await startAgent(parsed.config, {
    nodeCredentials: { accessKeyId: 'AKIABENCHNODEROLE000', secretAccessKey: 'bench-node-secret' },
    env: {},
  });
  return { url: agent.imdsUrl, adminUrl: agent.adminUrl, stop: () => agent.close() };
}

async function startBareServer(body: string, contentType: string): Promise<{ url: string; stop(): Promise<void> }> {
  const bytes = Buffer.from(body);
  const headers = { 'content-type': contentType, 'content-length': String(bytes.length) };
  const server = http.createServer((_request, response) => {
    response.writeHead(200, headers);
    response.end(bytes);
  });
  // The same keep-alive window as the agent's metadata server.
  server.keepAliveTimeout = 5000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    stop: () => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
  };
}

async function main(): Promise<void> {
  let stop: () => Promise<void> = async () => {};
  process.on('message', (message: ChildRequest) => {
    void (async () => {
      try {
        if (message.type === 'start-agent') {
          const server = await startAgentServer(message.args, message.stsEndpoint, message.defaultLimits === true);
          stop = () => server.stop();
          send({ type: 'ready', url: server.url, adminUrl: server.adminUrl });
        } else if (message.type === 'start-bare') {
          const server = await startBareServer(message.body, message.contentType);
          stop = () => server.stop();
          send({ type: 'ready', url: server.url });
        } else if (message.type === 'stats') {
          send({ type: 'stats', stats: stats() });
        } else if (message.type === 'stop') {
          await stop();
          process.disconnect?.();
          process.exit(0);
        }
      } catch (error) {
        send({ type: 'error', message: (error as Error).stack ?? String(error) });
      }
    })();
  });
  process.on('disconnect', () => process.exit(0));
}

void main();
