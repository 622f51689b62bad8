/**
 * The CLI's outside world (streams, environment, working directory) and its helpers. Its own
 * module so that command files import it without importing main.ts (which imports them).
 */
import { err, ok, type Result } from '../util/result.js';

export interface Io {
  out: NodeJS.WriteStream;
  err: NodeJS.WriteStream;
  /** where confirmation answers are read (default: process.stdin) */
  in?: NodeJS.ReadableStream & { isTTY?: boolean };
  env: NodeJS.ProcessEnv;
  cwd: string;
}

export const defaultIo = (): Io => ({ out: process.stdout, err: process.stderr, env: process.env, cwd: process.cwd() });

/**
 * A secret typed on the terminal without echo (-K). Without a terminal there is nobody to ask:
 * an input error that says what to do instead.
 */
export function askSecret(prompt: string, io: Io): Promise<Result<string, string>> {
  const input = (io.in ?? process.stdin) as NodeJS.ReadableStream & { isTTY?: boolean; setRawMode?: (raw: boolean) => unknown };
  if (input.isTTY !== true || typeof input.setRawMode !== 'function') {
    return Promise.resolve(err('-K/--ask-become-pass needs a terminal to ask on (stdin is not one); give the hosts connection.become_password: { env: NAME } or { file: path } instead'));
  }
  input.setRawMode(true); // no echo: raw before the prompt, so nothing typed early is echoed either
  io.err.write(prompt);
  input.resume();
  return new Promise((done) => {
    let typed = '';
    const finish = (r: Result<string, string>): void => {
      input.off('data', onData);
      input.setRawMode?.(false);
      input.pause();
      io.err.write('\n');
      done(r);
    };
    const onData = (chunk: Buffer | string): void => {
      for (const ch of typeof chunk === 'string' ? chunk : chunk.toString('utf8')) {
        if (ch === '\r' || ch === '\n') return finish(typed.length > 0 ? ok(typed) : err('no become password given'));
        if (ch === '\u0003') return finish(err('interrupted'));
        if (ch === '\u0004') return finish(typed.length > 0 ? ok(typed) : err('no become password given'));
        if (ch === '\u007f' || ch === '\b') typed = typed.slice(0, -1);
        else typed += ch;
      }
    };
    input.on('data', onData);
  });
}

/** `pvrun … | head`: the reader went away; stop quietly instead of dying on EPIPE. */
export function quietOnClosedPipe(): void {
  for (const s of [process.stdout, process.stderr]) {
    s.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code === 'EPIPE') process.exit(process.exitCode ?? 0);
      throw e;
    });
  }
}
