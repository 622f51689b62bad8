/**
 * How a command is wrapped before it goes over an exec channel. Pure string building, so it is
 * table-testable.
 *
 * - Every command runs under `/bin/sh -c`, with or without sudo, so both paths see the same shell.
 *   The login shell sshd starts execs it at once (`exec …`): one remote process per command.
 * - A command that is itself a script for a POSIX shell (run-script's inline script; the
 *   `shell` option) is not wrapped a second time: that shell is the one `exec`ed, with the
 *   prologue below put in front of the script on its first line (so the script's line numbers
 *   stay the same) and the script's name and arguments as `$0 $1…`. One shell per step.
 * - The prologue first prints a marker with its process group id on stderr; the connector strips
 *   it and uses it to kill the whole group through a second channel when a timeout fires
 *   (closing the channel alone leaves the remote process running).
 * - env goes in as `export` statements: sshd's AcceptEnv is usually off, and sudo resets the
 *   environment anyway, so the exports must run inside the (possibly sudo'd) shell.
 * - A command given no stdin reads /dev/null (`</dev/null` on the login shell's `exec`), so the
 *   client never has to send EOF on the channel: one SSH packet (and one socket write) less per
 *   command, and a command that reads stdin still ends at once instead of waiting forever.
 */
import { isEnvName, quoteArgs, quoteShell } from '../../util/shell-quote.js';

/** ASCII record separator: cannot be confused with normal output. */
export const PGID_MARKER = '\u001epvrun-pgid ';

// The shell's process group. OpenSSH starts each session's login shell in a session of its own
// (session.c, do_exec_no_pty: the forked child calls `setsid()` before do_child, "Create a new
// session and process group since the 4.4BSD setlogin() affects the entire process group";
// with a pty, pty_make_controlling_tty does the same), and the login shell
// `exec`s this shell, so without sudo the shell is the group's leader: `kill -0 -$$` (signal 0
// to the group whose id is our pid: no signal is sent) succeeds, and the group is `$$`. A group
// with our pid as its id can only be ours: a pid is not reused while a group holds it.
// Otherwise (under sudo, whose command runs in sudo's group; a server that does not setsid) the
// group is field 5 of /proc/PID/stat; `read` splits on spaces (sh's comm has none). That read
// costs a syscall per byte (dash's `read` never reads ahead: ~300 reads of a 300-byte line),
// which was ~0.5 ms of the host's CPU per step (issue 17, BENCHMARKS.md, thirteenth pass).
// (without /proc, e.g. in a bare chroot, a non-leader's marker is empty and a timeout only
// closes the channel)
const MARKER_CMD =
  `if kill -0 -$$ 2>/dev/null; then pvrun_pg=$$; else { read -r _ _ _ _ pvrun_pg _ < /proc/$$/stat; } 2>/dev/null; fi; ` +
  `printf '\\036pvrun-pgid %s\\n' "$pvrun_pg" >&2; unset pvrun_pg`;

export type BecomeMode = 'none' | 'nopasswd' | 'password';

export interface ScriptShell {
  /** the shell to run, e.g. `/bin/sh` or `bash` (looked up in PATH) */
  path: string;
  /** `$0` of the script */
  name: string;
  args?: readonly string[];
}

export function buildRemoteCommand(
  command: string,
  opts: { env?: Record<string, string>; become: BecomeMode; shell?: ScriptShell; noStdin?: boolean },
): { ok: true; command: string } | { ok: false; message: string } {
  let exports = '';
  if (opts.env) {
    for (const k of Object.keys(opts.env)) {
      if (!isEnvName(k)) return { ok: false, message: `invalid environment variable name: ${JSON.stringify(k)}` };
      exports += `export ${k}=${quoteShell(opts.env[k]!)}; `;
    }
  }
  const inner = `${MARKER_CMD}; ${exports}${command}`;
  const sh = opts.shell;
  const shellLine = sh
    ? `${quoteShell(sh.path)} -c ${quoteShell(inner)} ${quoteShell(sh.name)}${sh.args?.length ? ` ${quoteArgs(sh.args)}` : ''}`
    : `/bin/sh -c ${quoteShell(inner)}`;
  // (never with the become password: sudo -S reads it from stdin)
  const devNull = opts.noStdin && opts.become !== 'password' ? ' </dev/null' : '';
  switch (opts.become) {
    case 'none':
      return { ok: true, command: `exec ${shellLine}${devNull}` };
    case 'nopasswd':
      return { ok: true, command: `exec sudo -n -- ${shellLine}${devNull}` };
    case 'password':
      // -k: always ask, so the password line on stdin is consumed by sudo and never reaches the
      // command; -p '': no prompt text in stderr
      return { ok: true, command: `exec sudo -k -S -p '' -- ${shellLine}` };
  }
}

/** Kill a process group: TERM, a moment to clean up, then KILL. */
export function killGroupCommand(pgid: number, become: BecomeMode): string {
  // no `--`: dash's builtin kill rejects it; a negative number after the signal is a group
  const body = `kill -TERM -${pgid} 2>/dev/null; sleep 0.3; kill -KILL -${pgid} 2>/dev/null; true`;
  switch (become) {
    case 'none': return body;
    case 'nopasswd': return `sudo -n -- /bin/sh -c ${quoteShell(body)}`;
    case 'password': return `sudo -k -S -p '' -- /bin/sh -c ${quoteShell(body)}`;
  }
}

/**
 * Strips the pgid marker line out of a stderr stream. Text before the marker (a sudo lecture)
 * passes through; if no marker shows up in the first 8 KiB, it gives up and passes everything.
 */
export class MarkerFilter {
  pgid: number | undefined;
  private pending = '';
  private done: boolean;

  /** `expectMarker: false` (raw remote shell) passes everything straight through */
  constructor(expectMarker = true) {
    this.done = !expectMarker;
  }

  push(chunk: string): string {
    if (this.done) return chunk;
    this.pending += chunk;
    const at = this.pending.indexOf(PGID_MARKER);
    if (at >= 0) {
      const nl = this.pending.indexOf('\n', at);
      if (nl < 0) return '';
      const n = Number(this.pending.slice(at + PGID_MARKER.length, nl));
      if (Number.isInteger(n) && n > 1) this.pgid = n;
      const out = this.pending.slice(0, at) + this.pending.slice(nl + 1);
      this.pending = '';
      this.done = true;
      return out;
    }
    if (this.pending.length > 8192) return this.flush();
    // emit whole lines that cannot be the start of the marker
    const lastNl = this.pending.lastIndexOf('\n');
    if (lastNl >= 0 && !this.pending.slice(lastNl + 1).startsWith('\u001e')) {
      const out = this.pending.slice(0, lastNl + 1);
      this.pending = this.pending.slice(lastNl + 1);
      return out;
    }
    return '';
  }

  flush(): string {
    const out = this.pending;
    this.pending = '';
    this.done = true;
    return out;
  }
}
