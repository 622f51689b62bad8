/** Run the real CLI in this process with captured output, as from a non-TTY (plain lines). */
import { appendFileSync } from 'node:fs';
import { PassThrough } from 'node:stream';
import { main, type Io } from '../../src/cli/main.js';
import { CLI_TRAIL } from './watchdog-trail.js';

/** A copy of what the in-process CLI prints, for the watchdog to show if the file hangs. */
function trail(line: string): void {
  try { appendFileSync(CLI_TRAIL, line); } catch { /* a diagnostic only */ }
}

export interface CliResult {
  code: number;
  out: string;
  err: string;
}

export async function runCli(
  argv: string[],
  opts: { env?: NodeJS.ProcessEnv; cwd?: string; stdin?: string; tty?: boolean; out?: NodeJS.WritableStream } = {},
): Promise<CliResult> {
  const out = new PassThrough();
  // opts.out (e.g. a FakeTerminal) replaces stdout; the result's `out` is then empty
  const err = new PassThrough();
  // tty: stdin and stderr are a terminal, as for a person at a shell (stdout stays a pipe)
  if (opts.tty) (err as unknown as { isTTY: boolean }).isTTY = true;
  let input: (PassThrough & { isTTY?: boolean }) | undefined;
  if (opts.stdin !== undefined) {
    input = new PassThrough();
    if (opts.tty) input.isTTY = true;
    input.end(opts.stdin);
  }
  let o = '';
  let e = '';
  out.on('data', (d: Buffer) => { o += d.toString(); trail(d.toString()); });
  err.on('data', (d: Buffer) => { e += d.toString(); trail(d.toString()); });
  trail(`\n== pvrun ${argv.join(' ')}  (in-process, ${new Date().toISOString()})\n`);
  const io: Io = {
    out: (opts.out ?? out) as unknown as NodeJS.WriteStream, err: err as unknown as NodeJS.WriteStream,
    env: opts.env ?? process.env, cwd: opts.cwd ?? process.cwd(),
    ...(input ? { in: input } : {}),
  };
  const code = await main(argv, io);
  trail(`== exit ${code}  (${new Date().toISOString()})\n`);
  return { code, out: o, err: e };
}
