/**
 * The cause of the psremoting stall: node-powershell's command framing never finished when a
 * child's stray output (> 16 bytes) came before the delimiters and both delimiters then arrived
 * in one chunk (src/connectors/powershell/local-pwsh.ts says why). These drive the framing
 * through real streams in the order that stalled, then a real pwsh with a real stray writer.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { LocalPwsh, readBetweenDelimiters } from '../../src/connectors/powershell/local-pwsh.js';
import { describeWindows, PWSH } from './harness.js';

const D = 'AbCdEfGhIjKlMnOp'; // 16 characters, like node-powershell's delimiters

/** Feed `writes` one per tick (each is read as its own chunk); the framed text, or 'stalled'. */
async function frame(writes: string[]): Promise<string> {
  const s = new PassThrough();
  const p = readBetweenDelimiters(s, D).then((b) => b.toString('utf8'));
  for (const w of writes) {
    s.write(w);
    await new Promise((r) => setTimeout(r, 5));
  }
  return Promise.race([p, new Promise<string>((r) => setTimeout(() => r('stalled'), 1000))]);
}

describe('local pwsh command framing', () => {
  it('stray output longer than a delimiter, then both delimiters in one chunk: finishes (it stalled)', async () => {
    const stray = 'ssh: connect to host 127.0.0.1 port 22: Connection timed out\n';
    expect(await frame([stray, `${D}\n${D}\n`])).toBe('');
    expect(await frame([stray, `${D}\n{"ok":true}\n${D}\n`])).toBe('{"ok":true}');
    expect(await frame([stray.repeat(50), `${D}\nanswer\n${D}\n`])).toBe('answer');
  });

  it('frames output split anywhere, delimiters split across chunks included', async () => {
    const whole = `noise before\n${D}\nline 1\nünïcødé 日本\n${D}\ntrailing`;
    for (const cut of [1, 5, 13, 14, 20, 25, 30, whole.length - 12, whole.length - 3]) {
      expect(await frame([whole.slice(0, cut), whole.slice(cut)]), `cut at ${cut}`).toBe('line 1\nünïcødé 日本');
    }
    // one byte at a time
    expect(await frame([...Buffer.from(`${D}\r\n  x y \r\n${D}\r\n`)].map((b) => String.fromCharCode(b)))).toBe('x y');
  });

  it('waits for the second delimiter: one delimiter alone is not the end', async () => {
    expect(await frame([`${D}\npartial output`])).toBe('stalled');
  });
});

describeWindows('local pwsh (real pwsh) with a child writing stray output to its stderr', { sshd: false }, () => {
  it('a stray line read before the delimiters, then both delimiters in one read: the invocation still answers', async () => {
    const ps = new LocalPwsh({
      executable: PWSH!, throwOnInvocationError: false,
      executableOptions: { '-NoProfile': true, '-NonInteractive': true },
      spawnOptions: { env: { ...process.env, TERM: 'dumb', NO_COLOR: '1' } },
    });
    const launcher = (ps as unknown as { process: { pid: number } }).process.pid;
    let pwshPid = launcher;
    let child = 0;
    try {
      // a child that inherits the worker's stderr, as the ssh clients under New-PSSession do, and
      // writes one line there when told (SIGUSR1)
      const script = join(mkdtempSync(join(tmpdir(), 'pvrun-stray-')), 'stray.sh');
      writeFileSync(script, 'trap "echo ssh: a stray line from a child process, longer than a delimiter >&2" USR1\nwhile :; do sleep 0.05; done\n');
      const started = await ps.invoke(`$p = [System.Diagnostics.Process]::Start('/bin/sh', '${script}'); $p.Id`);
      child = Number(started.stdout?.toString('utf8').trim().split('\n').pop());
      expect(child).toBeGreaterThan(0);
      // the dotnet tool's pwsh is a launcher whose child is the real pwsh (the child's parent)
      const ppidOf = (pid: number) => Number(readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ')[1]);
      pwshPid = ppidOf(child);
      expect(readFileSync(`/proc/${pwshPid}/cmdline`, 'utf8')).toMatch(/pwsh/);
      for (let i = 0; i < 5; i++) {
        // the order that stalled, made certain: pwsh cannot run yet (stopped), so the child's
        // line is read first, in a chunk of its own; then pwsh runs the whole command while this
        // process does not read (busy), so both stderr delimiters arrive in one read
        process.kill(pwshPid, 'SIGSTOP');
        const answer = ps.invoke(`'answer ${i}'`).then((x) => x.stdout?.toString('utf8').trim() ?? '');
        process.kill(child, 'SIGUSR1');
        await new Promise((r) => setTimeout(r, 300));
        process.kill(pwshPid, 'SIGCONT');
        const until = Date.now() + 400;
        while (Date.now() < until) { /* not reading: let pwsh write both delimiters */ }
        const r = await Promise.race([answer, new Promise<string>((res) => setTimeout(() => res('no answer within 20 s (stalled)'), 20_000))]);
        expect(r).toMatch(new RegExp(`answer ${i}$`));
      }
    } finally {
      try { process.kill(pwshPid, 'SIGCONT'); } catch { /* gone */ }
      if (child) { try { process.kill(child, 'SIGKILL'); } catch { /* gone */ } }
      await ps.dispose().catch(() => {});
    }
  });
});
