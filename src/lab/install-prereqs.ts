/**
 * `pvrun demo` on a fresh machine: the Debian packages the lab needs (src/lab/guest/prereqs.ts
 * REQUIRED_TOOLS) installed after saying which, and pwsh (the Windows-like guest) where the .NET
 * SDK is there. On a terminal it asks first; `--yes` and CI (`CI` set) do not ask. When it
 * cannot (not root, not Debian/Ubuntu, no apt-get, nobody to ask, a failed install) it says the
 * exact commands to run and the demo exits 5 (nothing was started).
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { createInterface } from 'node:readline/promises';
import { PATH_DIRS, REQUIRED_TOOLS } from './guest/prereqs.js';

export const PWSH_INSTALL = ['dotnet', 'tool', 'install', '--global', 'PowerShell', '--version', '7.6.9'];

/** Where the lab looks for its tools (src/lab/guest/prereqs.ts findTool). */
export const LAB_TOOL_DIRS = PATH_DIRS;

export interface PrereqOptions {
  env: NodeJS.ProcessEnv;
  out: (s: string) => void;
  /** a terminal on stdin and stderr: the question is asked there */
  ask?: (question: string) => Promise<string>;
  yes: boolean;
  /** the effective uid (process.geteuid) */
  uid: number;
  /** the directories the lab's tools are looked up in (default: the lab's own list) */
  toolDirs?: string[];
  /** /etc/os-release */
  osRelease?: string;
  /** where pwsh is (default: PATH and ~/.dotnet/tools, as the lab looks) */
  findPwsh?: () => string | undefined;
  /** more tools to require, tool → Debian package (`demo --qemu`: QEMU and the image tools) */
  extraTools?: Record<string, string>;
}

export type PrereqResult = { ok: true; installed: string[] } | { ok: false; message: string };

const ciSet = (env: NodeJS.ProcessEnv): boolean => {
  const v = env['CI'];
  return v !== undefined && v !== '' && v !== '0' && v.toLowerCase() !== 'false';
};

/** The first executable named `name` on the PATH of `env`. */
export function onPath(name: string, env: NodeJS.ProcessEnv): string | undefined {
  for (const d of (env['PATH'] ?? '').split(delimiter)) {
    if (d && existsSync(join(d, name))) return join(d, name);
  }
  return undefined;
}

/** The lab's tools that are not there, and the Debian packages that provide them (sorted, once each). */
export function missingLabPackages(dirs: string[] = LAB_TOOL_DIRS, extra: Record<string, string> = {}): { tools: string[]; packages: string[] } {
  const all: Record<string, string> = { ...REQUIRED_TOOLS, ...extra };
  const tools = Object.keys(all).filter((t) => !dirs.some((d) => existsSync(join(d, t))));
  return { tools, packages: [...new Set(tools.map((t) => all[t]!))].sort() };
}

/** Debian, Ubuntu or a derivative (os-release ID or ID_LIKE), from /etc/os-release's text. */
export function debianLike(osRelease: string | undefined): { ok: boolean; name: string } {
  if (osRelease === undefined) return { ok: false, name: 'an OS without /etc/os-release' };
  const field = (k: string): string => (new RegExp(`^${k}=("?)([^"\\n]*)\\1$`, 'm').exec(osRelease)?.[2] ?? '').trim();
  const ids = [field('ID'), ...field('ID_LIKE').split(/\s+/)].map((s) => s.toLowerCase());
  return { ok: ids.includes('debian') || ids.includes('ubuntu'), name: field('PRETTY_NAME') || field('ID') || 'this OS' };
}

function runCommand(cmd: string, args: string[], env: NodeJS.ProcessEnv, out: (s: string) => void): Promise<number> {
  return new Promise((done) => {
    const p = spawn(cmd, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    p.stdout.on('data', (d: Buffer) => out(d.toString()));
    p.stderr.on('data', (d: Buffer) => out(d.toString()));
    p.on('error', (e) => { out(`${cmd}: ${e.message}\n`); done(127); });
    p.on('close', (code) => done(code ?? 1));
  });
}

async function confirm(question: string, o: PrereqOptions): Promise<'yes' | 'no' | 'nobody'> {
  if (o.yes || ciSet(o.env)) return 'yes';
  if (!o.ask) return 'nobody';
  const a = (await o.ask(`${question} [Y/n] `)).trim();
  return a === '' || /^y(es)?$/i.test(a) ? 'yes' : 'no';
}

/**
 * Make sure the lab's Debian packages are there (installing them when it may), then pwsh when
 * the .NET SDK is there. pwsh is optional (the demo runs without its Windows-like guest): a
 * pwsh that cannot be installed is said, never a failure.
 */
export async function ensureDemoPrereqs(o: PrereqOptions): Promise<PrereqResult> {
  const installed: string[] = [];
  const dirs = o.toolDirs ?? LAB_TOOL_DIRS;
  const { tools, packages } = missingLabPackages(dirs, o.extraTools);
  if (packages.length > 0) {
    const cmd = `apt-get install -y --no-install-recommends ${packages.join(' ')}`;
    o.out(`pvrun demo: the lab needs ${tools.join(', ')}: Debian packages ${packages.join(' ')}\n`);
    const os = debianLike(o.osRelease ?? readOsRelease());
    const apt = onPath('apt-get', o.env);
    const by = (why: string): PrereqResult => ({ ok: false, message: `${why}; install them, then run the demo again:\n    ${why.startsWith('not root') ? `sudo ${cmd}` : cmd}\n` });
    if (!os.ok) return { ok: false, message: `${os.name} is not Debian or Ubuntu: pvrun cannot install the lab's tools here; install what provides ${tools.join(', ')} with its package manager (Debian packages: ${packages.join(' ')}), then run the demo again\n` };
    if (!apt) return by('apt-get is not on PATH');
    if (o.uid !== 0) return by('not root (the lab needs root too)');
    const answer = await confirm(`Install ${packages.join(' ')} with apt-get now?`, o);
    if (answer === 'nobody') return by('no terminal to ask on (give --yes to install without asking)');
    if (answer === 'no') return by('not installed (you said no)');
    const aptEnv = { ...o.env, DEBIAN_FRONTEND: 'noninteractive' };
    o.out(`pvrun demo: running apt-get update && ${cmd}\n`);
    // a fresh machine (a container image) may have no package lists yet; a failed update is not
    // fatal on its own (the lists may be recent enough): the install says
    const up = await runCommand(apt, ['update'], aptEnv, o.out);
    if (up !== 0) o.out(`pvrun demo: apt-get update exited ${up}; trying the install anyway\n`);
    const code = await runCommand(apt, ['install', '-y', '--no-install-recommends', ...packages], aptEnv, o.out);
    if (code !== 0) return by(`apt-get install exited ${code}`);
    const still = missingLabPackages(dirs, o.extraTools);
    if (still.tools.length > 0) return by(`apt-get install ran, but ${still.tools.join(', ')} ${still.tools.length === 1 ? 'is' : 'are'} still missing`);
    installed.push(...packages);
  }
  if (o.uid !== 0) return { ok: false, message: 'the lab needs root (overlay mounts and namespaces for its guests); run the demo as root:\n    sudo npx pvrun demo\n' };

  const pwsh = (o.findPwsh ?? (() => onPath('pwsh', { PATH: [o.env['PATH'] ?? '', join(o.env['HOME'] ?? '/root', '.dotnet', 'tools')].join(delimiter) })))();
  if (!pwsh) {
    const line = PWSH_INSTALL.join(' ');
    if (!onPath('dotnet', o.env)) {
      o.out(`pvrun demo: the Windows-like guest needs pwsh, and the .NET SDK is not here to install it: install the .NET SDK, then ${line} (the demo runs without that guest)\n`);
    } else {
      o.out(`pvrun demo: the Windows-like guest needs pwsh: ${line}\n`);
      const answer = await confirm('Install pwsh with dotnet now?', o);
      if (answer !== 'yes') o.out(`pvrun demo: pwsh not installed${answer === 'nobody' ? ' (no terminal to ask on; --yes installs it)' : ''}; the demo runs without the Windows-like guest; to add it: ${line}\n`);
      else {
        const code = await runCommand(onPath('dotnet', o.env)!, PWSH_INSTALL.slice(1), o.env, o.out);
        if (code === 0) installed.push('pwsh');
        else o.out(`pvrun demo: ${line} exited ${code}; the demo runs without the Windows-like guest\n`);
      }
    }
  }
  return { ok: true, installed };
}

function readOsRelease(): string | undefined {
  for (const p of ['/etc/os-release', '/usr/lib/os-release']) {
    try { return readFileSync(p, 'utf8'); } catch { /* next */ }
  }
  return undefined;
}

/** A question on the terminal (stdin and stderr both TTYs), or undefined when nobody can answer. */
export function terminalAsker(input: NodeJS.ReadableStream & { isTTY?: boolean }, err: NodeJS.WriteStream): ((q: string) => Promise<string>) | undefined {
  if (input.isTTY !== true || err.isTTY !== true) return undefined;
  return async (q) => {
    const rl = createInterface({ input, output: err });
    try { return await rl.question(q); } finally { rl.close(); }
  };
}
