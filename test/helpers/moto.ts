import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import http from 'node:http';
import { createServer } from 'node:net';
import { promisify } from 'node:util';
import type { Test } from 'tap';

const run = promisify(execFile);

export interface Moto {
  /** `http://127.0.0.1:<port>`, for --sts-endpoint and SDK clients. */
  endpoint: string;
  port: number;
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
 * Starts `python3 -m moto.server` on a free loopback port and stops it in t.teardown. Installs
 * moto[server] with pip first when the module is missing. Resolves once the server has said it
 * is running and has answered one HTTP request.
 */
export async function startMoto(t: Test): Promise<Moto> {
  await ensureMotoInstalled();
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    try {
      const child = await spawnMoto(port);
      t.teardown(() => stop(child));
      return { endpoint: `http://127.0.0.1:${port}`, port };
    } catch (error) {
      // Another process may have taken the port between probing and binding; try another one.
      if (attempt >= 3) throw error;
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

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

async function spawnMoto(port: number): Promise<ChildProcess> {
  const child = spawn('python3', ['-m', 'moto.server', '-H', '127.0.0.1', '-p', String(port)], {
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
    await answers(port);
  } catch (error) {
    await stop(child);
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

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
  await exited;
  clearTimeout(timer);
}
