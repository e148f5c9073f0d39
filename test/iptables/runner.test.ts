import t, { type Test } from 'tap';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createIptablesRunner, IptablesUnavailableError } from '../../src/iptables/index.js';

/** Stand-ins for iptables and iptables-restore that record their arguments and stdin. */
function fakeBinaries(t: Test): { binary: string; recorded: () => string } {
  const dir = mkdtempSync(join(tmpdir(), 'corridor-runner-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const log = join(dir, 'log');
  const script = (name: string) =>
    `#!/bin/sh\nprintf '%s' "${name} $*" >> "${log}"\nif [ "${name}" = restore ]; then printf ' stdin:' >> "${log}"; cat >> "${log}"; fi\nprintf '\\n' >> "${log}"\necho "out of ${name}"\necho "err of ${name}" >&2\nexit 3\n`;
  writeFileSync(join(dir, 'fake-iptables'), script('iptables'));
  writeFileSync(join(dir, 'fake-iptables-restore'), script('restore'));
  chmodSync(join(dir, 'fake-iptables'), 0o755);
  chmodSync(join(dir, 'fake-iptables-restore'), 0o755);
  return { binary: join(dir, 'fake-iptables'), recorded: () => readFileSync(log, 'utf8') };
}

t.test('run passes -w with the lock wait first, and hands back exit code, stdout and stderr', async (t) => {
  const { binary, recorded } = fakeBinaries(t);
  const runner = createIptablesRunner({ binary, lockWaitSeconds: 7 });
  t.same(await runner.run(['-t', 'nat', '-S', 'CORRIDOR-IMDS']), { code: 3, stdout: 'out of iptables\n', stderr: 'err of iptables\n' });
  t.equal(recorded(), 'iptables -w 7 -t nat -S CORRIDOR-IMDS\n');
});

t.test('restore runs <binary>-restore --noflush with the input on stdin', async (t) => {
  const { binary, recorded } = fakeBinaries(t);
  const result = await createIptablesRunner({ binary }).restore('*nat\nCOMMIT\n');
  t.equal(result.code, 3);
  t.equal(recorded(), 'restore -w 10 --noflush stdin:*nat\nCOMMIT\n\n');
});

t.test('a missing binary is a clear error, not an exit code', async (t) => {
  await t.rejects(createIptablesRunner({ binary: '/nonexistent/iptables' }).run(['-t', 'nat', '-S']), IptablesUnavailableError);
  await t.rejects(createIptablesRunner({ binary: '/nonexistent/iptables' }).run(['-t', 'nat', '-S']), /cannot run \/nonexistent\/iptables: .*ENOENT.*is iptables installed and on PATH\?/);
});
