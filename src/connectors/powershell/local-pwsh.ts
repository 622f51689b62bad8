/**
 * The local pwsh process of a pool worker: node-powershell's `PowerShell`, with one fix.
 *
 * node-powershell (child-shell 5.0.0, dist/Shell.js `readBulkFromOutput`) frames every command
 * between two random 16-character delimiters written to stdout and to stderr, and decides that
 * a command is finished when the second delimiter shows up. It looks for the second one only in
 * the last `chunk.length + 16` bytes of what it has read. When more than 16 bytes of stray
 * output arrived in an earlier chunk before the first delimiter, and then both delimiters arrive
 * in one chunk (a command with no output on that stream, read late on a busy machine), that
 * window starts before the first delimiter, finds the first delimiter again, takes it for "not
 * the second one yet" and waits for more output that never comes: the invocation never
 * resolves, and every process sits idle. Stray output is what the ssh clients that
 * `New-PSSession -HostName` starts write to the worker's console — e.g. an ssh whose session
 * open already timed out reporting its own failure a moment later — which is exactly when the
 * 50-target psremoting test stalled under load. test/windows/local-pwsh.test.ts reproduces it.
 *
 * The fix: find the first delimiter from the start, then the second one anywhere after it.
 */
import { Writable, type Readable } from 'node:stream';
import { PowerShell } from 'node-powershell';

const isSpace = (b: number | undefined): boolean => b === 0x0a || b === 0x0d || b === 0x20;

/** What child-shell's trimBuffer does: strip \n, \r and spaces at both ends. */
function trim(buf: Buffer): Buffer {
  let start = 0;
  let end = buf.length;
  while (start < end && isSpace(buf[start])) start++;
  while (end > start && isSpace(buf[end - 1])) end--;
  return buf.subarray(start, end);
}

/**
 * Read `stream` until `delimiter` has been seen twice; resolve with what lies between them
 * (trimmed). Output before the first delimiter (stray output of children) is dropped.
 */
export function readBetweenDelimiters(stream: Readable, delimiter: string): Promise<Buffer> {
  const d = Buffer.from(delimiter, 'utf8');
  return new Promise<Buffer>((resolve) => {
    let buf = Buffer.alloc(0);
    let first = -1;
    let done = false;
    const sink = new Writable({
      write(chunk: Buffer | string, encoding: BufferEncoding, cb: () => void) {
        if (!done) {
          // a delimiter split across two chunks is found: the search restarts d.length - 1 back
          const from = Math.max(0, buf.length - d.length + 1);
          buf = Buffer.concat([buf, typeof chunk === 'string' ? Buffer.from(chunk, encoding) : chunk]);
          if (first === -1) first = buf.indexOf(d, from);
          const second = first === -1 ? -1 : buf.indexOf(d, Math.max(first + d.length, from));
          if (second !== -1) {
            done = true;
            stream.unpipe(sink);
            sink.end();
            resolve(trim(buf.subarray(first + d.length, second)));
          }
        }
        cb();
      },
    });
    stream.pipe(sink);
  });
}

/** node-powershell's PowerShell whose command framing cannot be stalled by stray output. */
export class LocalPwsh extends PowerShell {}

// child-shell's invokeCommand calls this.readBulkFromOutput(stream, delimiter) for stdout and
// stderr and only uses the Buffer it resolves with (it is not part of the typed API, hence the
// prototype assignment rather than a typed override)
(LocalPwsh.prototype as unknown as { readBulkFromOutput: typeof readBetweenDelimiters }).readBulkFromOutput =
  function readBulkFromOutput(stream: Readable, delimiter: string): Promise<Buffer> {
    return readBetweenDelimiters(stream, delimiter);
  };
