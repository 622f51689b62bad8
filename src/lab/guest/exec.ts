/**
 * Running the host tools the lab drives (unshare, nsenter, xorriso, dpkg-deb, cp, ssh-keygen):
 * one helper that never throws for a non-zero exit, so callers turn failures into Result values
 * with the tool's own stderr in the message.
 */
import { spawn } from 'node:child_process';

export interface RunOutput {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** set when the program could not be started at all */
  spawnError?: string;
}

export interface RunOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  input?: string;
}

export function run(cmd: string, args: readonly string[], opts: RunOptions = {}): Promise<RunOutput> {
  return new Promise((resolve) => {
    let stdout = '';
    let stderr = '';
    const child = spawn(cmd, args, {
      cwd: opts.cwd,
      env: opts.env ?? process.env,
      stdio: [opts.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    });
    child.stdout!.setEncoding('utf8').on('data', (d: string) => { stdout += d; });
    child.stderr!.setEncoding('utf8').on('data', (d: string) => { stderr += d; });
    if (opts.input !== undefined) child.stdin!.end(opts.input);
    child.once('error', (e) => resolve({ code: null, signal: null, stdout, stderr, spawnError: e.message }));
    child.once('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

/** One line describing a failed run, for error messages. */
export function describeFailure(cmd: string, out: RunOutput): string {
  if (out.spawnError) return `${cmd}: cannot run: ${out.spawnError}`;
  const why = out.signal ? `killed by ${out.signal}` : `exit ${out.code}`;
  const detail = (out.stderr.trim() || out.stdout.trim()).split('\n').slice(-5).join(' | ');
  return `${cmd} failed (${why})${detail ? `: ${detail}` : ''}`;
}
