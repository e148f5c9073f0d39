import t from 'tap';
import { runAgentCommand } from '../../src/cli/agent.js';

function capture(stream: NodeJS.WriteStream): { text: () => string; restore: () => void } {
  let text = '';
  const original = stream.write.bind(stream);
  stream.write = (chunk: string | Uint8Array) => {
    text += chunk.toString();
    return true;
  };
  return { text: () => text, restore: () => { stream.write = original; } };
}

t.test('bad flags stop the agent before it starts, with one line naming every problem and exit code 2', async (t) => {
  const stderr = capture(process.stderr);
  let code: number;
  try {
    code = await runAgentCommand(['--node-name', 'n', '--port', 'eighty', '--refresh-before', '10m', '--min-remaining', '20m']);
  } finally {
    stderr.restore();
  }
  t.equal(code, 2);
  const lines = stderr.text().trim().split('\n');
  t.equal(lines.length, 1, 'one line');
  t.match(lines[0], /^corridor agent: invalid configuration: /);
  t.match(lines[0], /--host-ip \(or CORRIDOR_HOST_IP\) is required/);
  t.match(lines[0], /--port: "eighty" is not a port/);
  t.match(lines[0], /min-remaining < refresh-before < session-duration/);
});

t.test('--help lists every flag with its environment variable and exits 0', async (t) => {
  const stdout = capture(process.stdout);
  let code: number;
  try {
    code = await runAgentCommand(['--help']);
  } finally {
    stdout.restore();
  }
  t.equal(code, 0);
  t.match(stdout.text(), /--session-duration .*\(default 1h\) \[CORRIDOR_SESSION_DURATION\]/);
  t.match(stdout.text(), /--rate-limit /);
});

t.test('a --min-remaining below the floor stops the agent with exit 2 and one line naming the flag, the value, the floor and why', async (t) => {
  const stderr = capture(process.stderr);
  let code: number;
  try {
    code = await runAgentCommand(['--node-name', 'n', '--host-ip', '127.0.0.1', '--min-remaining', '60s']);
  } finally {
    stderr.restore();
  }
  t.equal(code, 2);
  const lines = stderr.text().trim().split('\n');
  t.equal(lines.length, 1, 'one line');
  t.match(lines[0], /^corridor agent: invalid configuration: --min-remaining: 1m is below the 20m floor: botocore .*signs with expired keys/);
});
