import { execFile, spawn, type ChildProcess } from 'node:child_process';
import http from 'node:http';
import { promisify } from 'node:util';
import type { Test } from 'tap';
import { freePort } from './free-port.js';
import { stopChild } from './stop-child.js';

const run = promisify(execFile);

export interface Moto {
  /** `http://127.0.0.1:<port>` (or the given host), for --sts-endpoint and SDK clients. */
  endpoint: string;
  port: number;
}

export interface MotoOptions {
  /** Run moto inside this network namespace (`ip netns exec`); the test must be root. */
  netns?: string;
  /** Address to bind; default 127.0.0.1. In a netns, an address of that namespace. */
  host?: string;
  /** Port to bind; default a free one. A fresh netns has every port free, so pass one there. */
  port?: number;
}

/** Static keys moto accepts (it accepts any); in the shape of AWS's documentation examples. */
export const MOTO_CREDENTIALS = Object.freeze({
  accessKeyId: 'AKIAIOSFODNN7EXAMPLE',
  secretAccessKey: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY',
});

/** The account moto answers for. */
export const MOTO_ACCOUNT = '123456789012';

const STARTUP_TIMEOUT_MS = 60_000;

/**
 * Starts `python3 -m moto.server` on a free loopback port (or where `options` say, possibly in
 * a network namespace) and stops it in t.teardown. Installs moto[server] with pip first when the
 * module is missing. Resolves once the server has said it is running and has answered one HTTP
 * request.
 */
export async function startMoto(t: Test, options: MotoOptions = {}): Promise<Moto> {
  await ensureMotoInstalled();
  const host = options.host ?? '127.0.0.1';
  for (let attempt = 1; ; attempt++) {
    const port = options.port ?? (await freePort());
    try {
      const child = await spawnMoto(host, port, options.netns);
      t.teardown(() => stopChild(child));
      return { endpoint: `http://${host}:${port}`, port };
    } catch (error) {
      // Another process may have taken the port between probing and binding; try another one.
      if (attempt >= 3 || options.port !== undefined) throw error;
    }
  }
}

async function ensureMotoInstalled(): Promise<void> {
  try {
    await run('python3', ['-c', 'import moto.server']);
  } catch {
    await run('python3', ['-m', 'pip', 'install', '--quiet', 'moto[server]'], { timeout: 300_000 });
  }
}


async function spawnMoto(host: string, port: number, netns: string | undefined): Promise<ChildProcess> {
  const command = ['python3', '-m', 'moto.server', '-H', host, '-p', String(port)];
  // `ip netns exec` execs the command, so the child's pid is moto's own and stop() reaches it.
  const [file, ...args] = netns === undefined ? command : ['ip', 'netns', 'exec', netns, ...command];
  const child = spawn(file as string, args, {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, PYTHONUNBUFFERED: '1' },
  });
  let output = '';
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`moto did not start within ${STARTUP_TIMEOUT_MS} ms:\n${output}`)), STARTUP_TIMEOUT_MS);
      const onData = (chunk: Buffer) => {
        output += chunk.toString();
        // Werkzeug announces " * Running on http://127.0.0.1:<port>" once it is listening.
        if (output.includes(`:${port}`) && /Running on/.test(output)) {
          clearTimeout(timer);
          resolve();
        }
      };
      child.stdout?.on('data', onData);
      child.stderr?.on('data', onData);
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`moto exited with ${code} before it was ready:\n${output}`));
      });
    });
    await (netns === undefined ? answers(port) : answersInNetns(netns, host, port));
  } catch (error) {
    await stopChild(child);
    throw error;
  }
  // Keep draining its output so a chatty server never blocks on a full pipe.
  child.stdout?.resume();
  child.stderr?.resume();
  return child;
}

/** One request moto answers (any status) proves it is serving, not just bound. */
function answers(port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const request = http.get({ host: '127.0.0.1', port, path: '/moto-api/', agent: false }, (response) => {
      response.resume();
      response.on('end', () => resolve());
    });
    request.setTimeout(10_000, () => request.destroy(new Error('moto accepted but did not answer')));
    request.on('error', reject);
  });
}

/** The same one-request check, made from inside the namespace moto runs in. */
async function answersInNetns(netns: string, host: string, port: number): Promise<void> {
  // No proxy: a proxy from the environment could not reach into the namespace anyway.
  const script = 'import sys, urllib.request, urllib.error\nopener = urllib.request.build_opener(urllib.request.ProxyHandler({}))\ntry:\n    opener.open(sys.argv[1], timeout=10).read()\nexcept urllib.error.HTTPError:\n    pass';
  await run('ip', ['netns', 'exec', netns, 'python3', '-c', script, `http://${host}:${port}/moto-api/`], { timeout: 15_000 });
}

