/**
 * `pvrun demo` sets itself up (src/lab/install-prereqs.ts): the Debian packages the lab needs are
 * announced, then installed with apt-get (root, Debian-like; on a terminal after asking, with
 * --yes or CI=true without); otherwise the exact command to run, exit 5. pwsh likewise with
 * dotnet. Here the lab's tools are looked up in a directory that has all of them but sshd and
 * xorriso (symlinks to the real ones), and `apt-get` / `dotnet` are fake scripts first on PATH
 * that record their arguments and environment; the fake apt-get's install then makes the two
 * binaries available (symlinks), as the real packages would. The non-root cases run in a real
 * process of an unprivileged user (test/harness/users.ts).
 */
import { execFile } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findTool, REQUIRED_TOOLS } from '../../src/lab/guest/prereqs.js';
import { ensureDemoPrereqs, missingLabPackages, PWSH_INSTALL, type PrereqOptions } from '../../src/lab/install-prereqs.js';
import { QEMU_TOOL_PACKAGES } from '../../src/lab/qemu/image.js';
import { describeUnless, firstReason, requireBinary } from '../harness/require.js';
import { ensureTestUsers, testUsersSkipReason } from '../harness/users.js';
import { REPO } from '../e2e/harness.js';

const OS_RELEASE = 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\nVERSION_ID="12"\n';
const skip = firstReason(testUsersSkipReason(), requireBinary('setpriv', 'util-linux'),
  ...Object.keys(REQUIRED_TOOLS).map((t) => (findTool(t) ? undefined : `${t} is missing (the fake tool directory links to the real ones)`)));

describeUnless(skip)('pvrun demo: the lab\'s packages installed after saying which, or what to run (exit 5)', () => {
  let root: string;
  let n = 0;
  beforeAll(() => {
    root = mkdtempSync(join(tmpdir(), 'pvrun-demo-setup-'));
    chmodSync(root, 0o755); // the unprivileged user's process reads the fake directories
  });
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  /** A tool directory without sshd and xorriso, a fake apt-get and (optionally) a fake dotnet on PATH. */
  function machine(opts: { apt?: boolean; dotnet?: boolean; aptFails?: boolean } = {}): { bin: string; log: string; dotnetLog: string; env: NodeJS.ProcessEnv } {
    const d = join(root, `m${++n}`);
    const bin = join(d, 'bin');
    mkdirSync(bin, { recursive: true });
    for (const t of Object.keys(REQUIRED_TOOLS)) if (t !== 'sshd' && t !== 'xorriso') symlinkSync(findTool(t)!, join(bin, t));
    const log = join(d, 'apt-get.log');
    const dotnetLog = join(d, 'dotnet.log');
    if (opts.apt !== false) {
      writeFileSync(join(bin, 'apt-get'), [
        '#!/bin/sh',
        `echo "$* | DEBIAN_FRONTEND=$DEBIAN_FRONTEND" >> ${log}`,
        'if [ "$1" = install ]; then',
        opts.aptFails ? '  echo "E: Unable to locate package openssh-server" >&2; exit 100' : '  :',
        // what the packages put on the machine
        `  for p in "$@"; do case "$p" in openssh-server) /bin/ln -s ${findTool('sshd')} ${bin}/sshd;; xorriso) /bin/ln -s ${findTool('xorriso')} ${bin}/xorriso;; esac; done`,
        'fi',
        'echo "fake apt-get: $1 done"',
        '',
      ].join('\n'), { mode: 0o755 });
    }
    if (opts.dotnet) writeFileSync(join(bin, 'dotnet'), `#!/bin/sh\necho "$*" >> ${dotnetLog}\necho "Tool 'powershell' was successfully installed."\n`, { mode: 0o755 });
    chmodSync(d, 0o755);
    return { bin, log, dotnetLog, env: { PATH: bin, HOME: d } };
  }
  const lines = (f: string): string[] => (existsSync(f) ? readFileSync(f, 'utf8').trim().split('\n') : []);

  async function step(m: ReturnType<typeof machine>, o: Partial<PrereqOptions> = {}) {
    let out = '';
    const r = await ensureDemoPrereqs({
      env: m.env, out: (s) => { out += s; }, yes: false, uid: 0, toolDirs: [m.bin], osRelease: OS_RELEASE, findPwsh: () => '/opt/pwsh', ...o,
    });
    return { r, out };
  }

  it('as root under CI=true: announces the packages, runs apt-get with exactly those, and the tools are there after', async () => {
    const m = machine();
    expect(missingLabPackages([m.bin])).toEqual({ tools: ['sshd', 'xorriso'], packages: ['openssh-server', 'xorriso'] });
    const { r, out } = await step(m, { env: { ...m.env, CI: 'true' } });
    expect(out.split('\n')[0]).toBe('pvrun demo: the lab needs sshd, xorriso: Debian packages openssh-server xorriso');
    expect(lines(m.log)).toEqual([
      'update | DEBIAN_FRONTEND=noninteractive',
      'install -y --no-install-recommends openssh-server xorriso | DEBIAN_FRONTEND=noninteractive',
    ]);
    expect(r).toEqual({ ok: true, installed: ['openssh-server', 'xorriso'] });
    expect(missingLabPackages([m.bin]).tools).toEqual([]);
  });

  it('demo --qemu also installs QEMU and the image tools; a tool still missing after the install is said, exit 5 path', async () => {
    const m = machine();
    const { r, out } = await step(m, { env: { ...m.env, CI: 'true' }, extraTools: QEMU_TOOL_PACKAGES });
    const install = lines(m.log).find((l) => l.startsWith('install '))!;
    for (const p of ['mmdebstrap', 'openssh-server', 'qemu-system-x86', 'qemu-utils', 'xorriso']) expect(install.split(' ')).toContain(p);
    expect(out.split('\n')[0]).toMatch(/^pvrun demo: the lab needs .*qemu-system-x86_64/);
    // the fake apt-get puts only sshd and xorriso on the machine: QEMU is still missing
    expect(r.ok).toBe(false);
    expect(r.ok ? '' : r.message).toMatch(/still missing/);
    expect(r.ok ? '' : r.message).toMatch(/qemu-system-x86_64/);
  });

  it('on a terminal it asks: no installs nothing and says what to run; yes (or Enter) installs', async () => {
    const m = machine();
    const asked: string[] = [];
    const no = await step(m, { ask: async (q) => { asked.push(q); return 'n'; } });
    expect(asked).toEqual(['Install openssh-server xorriso with apt-get now? [Y/n] ']);
    expect(no.r).toEqual({ ok: false, message: 'not installed (you said no); install them, then run the demo again:\n    apt-get install -y --no-install-recommends openssh-server xorriso\n' });
    expect(lines(m.log)).toEqual([]);
    const yes = await step(m, { ask: async () => '' });
    expect(yes.r.ok).toBe(true);
    expect(lines(m.log).map((l) => l.split(' |')[0])).toEqual(['update', 'install -y --no-install-recommends openssh-server xorriso']);
  });

  it('--yes installs without asking; without a terminal, --yes or CI it does not guess', async () => {
    const m = machine();
    const nobody = await step(m);
    expect(nobody.r).toEqual({ ok: false, message: 'no terminal to ask on (give --yes to install without asking); install them, then run the demo again:\n    apt-get install -y --no-install-recommends openssh-server xorriso\n' });
    expect(lines(m.log)).toEqual([]);
    const yes = await step(m, { yes: true, ask: async () => { throw new Error('asked despite --yes'); } });
    expect(yes.r).toEqual({ ok: true, installed: ['openssh-server', 'xorriso'] });
  });

  it('cannot: not Debian-like, no apt-get, a failed install — each says what to run', async () => {
    const fedora = await step(machine(), { yes: true, osRelease: 'NAME="Fedora Linux"\nID=fedora\nPRETTY_NAME="Fedora Linux 40"\n' });
    expect(fedora.r).toEqual({ ok: false, message: 'Fedora Linux 40 is not Debian or Ubuntu: pvrun cannot install the lab\'s tools here; install what provides sshd, xorriso with its package manager (Debian packages: openssh-server xorriso), then run the demo again\n' });
    const ubuntu = await step(machine(), { yes: true, osRelease: 'ID=pop\nID_LIKE="ubuntu debian"\n' });
    expect(ubuntu.r.ok).toBe(true);
    const noApt = await step(machine({ apt: false }), { yes: true });
    expect(noApt.r).toEqual({ ok: false, message: 'apt-get is not on PATH; install them, then run the demo again:\n    apt-get install -y --no-install-recommends openssh-server xorriso\n' });
    const fails = machine({ aptFails: true });
    const failed = await step(fails, { yes: true });
    expect(failed.out).toContain('E: Unable to locate package openssh-server');
    expect(failed.r).toEqual({ ok: false, message: 'apt-get install exited 100; install them, then run the demo again:\n    apt-get install -y --no-install-recommends openssh-server xorriso\n' });
  });

  it('pwsh: installed with dotnet when the .NET SDK is there; otherwise said, and the demo goes on', async () => {
    const m = machine({ dotnet: true });
    const r = await step(m, { env: { ...m.env, CI: 'true' }, findPwsh: () => undefined });
    expect(r.out).toContain(`pvrun demo: the Windows-like guest needs pwsh: ${PWSH_INSTALL.join(' ')}\n`);
    expect(lines(m.dotnetLog)).toEqual(['tool install --global PowerShell --version 7.6.9']);
    expect(r.r).toEqual({ ok: true, installed: ['openssh-server', 'xorriso', 'pwsh'] });
    const bare = machine();
    const without = await step(bare, { env: { ...bare.env, CI: 'true' }, findPwsh: () => undefined });
    expect(without.r.ok).toBe(true);
    expect(without.out).toContain('pvrun demo: the Windows-like guest needs pwsh, and the .NET SDK is not here to install it: install the .NET SDK, then dotnet tool install --global PowerShell --version 7.6.9 (the demo runs without that guest)\n');
  });

  describe('as an unprivileged user (a real process)', () => {
    let uid = 0;
    let gid = 0;
    beforeAll(() => {
      const u = ensureTestUsers().nopasswd;
      uid = u.uid;
      gid = Number(readFileSync('/etc/passwd', 'utf8').split('\n').find((l) => l.startsWith(`${u.name}:`))!.split(':')[3]);
    });
    const asUser = (args: string[], env: NodeJS.ProcessEnv, cwd: string): Promise<{ code: number; out: string; err: string }> => new Promise((done) => {
      execFile('setpriv', [`--reuid=${uid}`, `--regid=${gid}`, '--clear-groups', process.execPath, ...args], { env, cwd, timeout: 120_000 }, (e, out, err) => {
        done({ code: e ? (typeof e.code === 'number' ? e.code : 1) : 0, out, err });
      });
    });

    it('packages absent: the step says `sudo apt-get install …` and apt-get is not run', async () => {
      const m = machine();
      const script = join(root, 'step.mjs');
      writeFileSync(script, [
        `const { ensureDemoPrereqs } = await import(${JSON.stringify(join(REPO, 'src', 'lab', 'install-prereqs.ts'))});`,
        `const r = await ensureDemoPrereqs({ env: { PATH: ${JSON.stringify(m.bin)}, CI: 'true' }, out: (s) => process.stderr.write(s), yes: true, uid: process.geteuid(), toolDirs: [${JSON.stringify(m.bin)}], findPwsh: () => '/opt/pwsh' });`,
        'process.stdout.write(JSON.stringify({ uid: process.geteuid(), r }));',
      ].join('\n'));
      chmodSync(script, 0o644);
      const p = await asUser(['--import', 'tsx', script], { PATH: '/usr/bin:/bin', HOME: root }, REPO);
      expect(p.err).toContain('pvrun demo: the lab needs sshd, xorriso: Debian packages openssh-server xorriso');
      const res = JSON.parse(p.out) as { uid: number; r: unknown };
      expect(res.uid).toBe(uid);
      expect(res.r).toEqual({ ok: false, message: 'not root (the lab needs root too); install them, then run the demo again:\n    sudo apt-get install -y --no-install-recommends openssh-server xorriso\n' });
      expect(lines(m.log)).toEqual([]);
    });

    it('`pvrun demo` as non-root: exit 5, the command to run named, no lab started', async () => {
      const cwd = join(root, 'cwd');
      mkdirSync(cwd, { recursive: true });
      chmodSync(cwd, 0o777);
      const p = await asUser([join(REPO, 'bin', 'pvrun.cjs'), 'demo'], { PATH: '/usr/bin:/bin', HOME: root, CI: 'true' }, cwd);
      expect(p.err).toBe('pvrun demo: the lab needs root (overlay mounts and namespaces for its guests); run the demo as root:\n    sudo npx pvrun demo\n');
      expect(p.code).toBe(5);
      expect(p.out).not.toContain('starting a lab');
      expect(existsSync(join(cwd, '.lab'))).toBe(false);
    });
  });
});
