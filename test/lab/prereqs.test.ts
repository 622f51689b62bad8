/**
 * Without root the lab refuses with a clear reason. As root (CI), the check is run in a child
 * process as user nobody; otherwise in this process.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { describeUnless, itUnless, requireRoot } from '../harness/require.js';
import { checkLabPrereqs, checkStateDirFs, missingTools } from '../../src/lab/guest/prereqs.js';

const missing = missingTools();

describeUnless(missing.length ? `missing ${missing.join(', ')}` : undefined)('lab prerequisites', () => {
  it('a non-root user is told the lab needs root, and why', async () => {
    let result: unknown;
    if (process.getuid?.() === 0) {
      const dir = mkdtempSync(join(tmpdir(), 'pvrun-lab-nonroot-'));
      try {
        chmodSync(dir, 0o755);
        const script = join(dir, 'check.mts');
        const mod = resolve('src/lab/guest/prereqs.ts');
        writeFileSync(script, `import { checkLabPrereqs } from ${JSON.stringify(mod)};\nconsole.log(JSON.stringify(await checkLabPrereqs()));\n`);
        chmodSync(script, 0o644);
        const out = execFileSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', 'env', `HOME=${dir}`,
          process.execPath, '--import', 'tsx', script], { encoding: 'utf8', cwd: resolve('.') });
        result = JSON.parse(out.trim().split('\n').pop()!);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    } else {
      result = await checkLabPrereqs();
    }
    expect(result).toMatchObject({ ok: false, error: { kind: 'not-root' } });
    const message = (result as { error: { message: string } }).error.message;
    expect(message).toMatch(/^the lab needs root: /);
    expect(message).toMatch(/user namespaces|overlay|rootless/);
  });

  itUnless(requireRoot('an overlay mount'))('a state directory on overlayfs is refused with the reason', () => {
    const dir = mkdtempSync(join(tmpdir(), 'pvrun-lab-ovl-'));
    for (const d of ['l', 'u', 'w', 'm']) mkdirSync(join(dir, d));
    execFileSync('mount', ['-t', 'overlay', 'overlay', '-o', `lowerdir=${dir}/l,upperdir=${dir}/u,workdir=${dir}/w`, join(dir, 'm')]);
    try {
      const r = checkStateDirFs(join(dir, 'm'));
      expect(r.ok).toBe(false);
      if (!r.ok) expect(r.error.message).toMatch(/is on overlayfs/);
      expect(checkStateDirFs(dir).ok).toBe(true);
    } finally {
      execFileSync('umount', [join(dir, 'm')]);
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
