/**
 * A fake terminal for tests of the live TTY display: a writable stream that says it is a TTY and
 * interprets what a real terminal would (text, \r, \n, line wrap at `columns`, and the ECMA-48
 * sequences log-update and picocolors emit: cursor up/down/left/column, erase in line/display,
 * SGR colours, DEC private modes), keeping the screen a person would see. Every write is a
 * frame; `frames` keeps the screen after each one.
 */
import { Writable } from 'node:stream';

export class FakeTerminal extends Writable {
  readonly isTTY = true;
  readonly columns: number;
  readonly rows: number;
  /** the whole scrollback: line 0 is the first line ever written */
  private lines: string[][] = [[]];
  private row = 0;
  private col = 0;
  /** the visible screen after each write */
  readonly frames: string[] = [];
  /** everything written, raw */
  raw = '';

  constructor(columns = 100, rows = 40) {
    super({ decodeStrings: false });
    this.columns = columns;
    this.rows = rows;
  }

  getWindowSize(): [number, number] { return [this.columns, this.rows]; }
  hasColors(): boolean { return true; }

  override _write(chunk: Buffer | string, _enc: BufferEncoding, cb: (e?: Error | null) => void): void {
    const s = typeof chunk === 'string' ? chunk : chunk.toString('utf8');
    this.raw += s;
    this.feed(s);
    this.frames.push(this.screen());
    cb();
  }

  private line(r: number): string[] {
    while (this.lines.length <= r) this.lines.push([]);
    return this.lines[r]!;
  }

  private put(ch: string): void {
    if (this.col >= this.columns) { this.row++; this.col = 0; }
    const l = this.line(this.row);
    while (l.length < this.col) l.push(' ');
    l[this.col] = ch;
    this.col++;
  }

  private feed(s: string): void {
    const chars = [...s];
    for (let i = 0; i < chars.length; i++) {
      const ch = chars[i]!;
      if (ch === '\x1b' && chars[i + 1] === '[') {
        let j = i + 2;
        let params = '';
        while (j < chars.length && /[0-9;?]/.test(chars[j]!)) params += chars[j++];
        const cmd = chars[j] ?? '';
        i = j;
        this.csi(params, cmd);
        continue;
      }
      if (ch === '\r') { this.col = 0; continue; }
      if (ch === '\n') { this.row++; this.col = 0; this.line(this.row); continue; }
      this.put(ch);
    }
  }

  private csi(params: string, cmd: string): void {
    if (params.startsWith('?')) return; // DEC private modes (cursor show/hide, synchronized output)
    const n = params === '' ? undefined : Number(params.split(';')[0]);
    const top = Math.max(0, this.lines.length - this.rows);
    switch (cmd) {
      case 'm': return; // colours: not what a person reads
      case 'A': this.row = Math.max(top, this.row - (n ?? 1)); return;
      case 'B': this.row += n ?? 1; this.line(this.row); return;
      case 'C': this.col += n ?? 1; return;
      case 'D': this.col = Math.max(0, this.col - (n ?? 1)); return;
      case 'G': this.col = Math.max(0, (n ?? 1) - 1); return;
      case 'K': {
        const l = this.line(this.row);
        if ((n ?? 0) === 0) l.length = Math.min(l.length, this.col);
        else if (n === 1) for (let k = 0; k <= this.col && k < l.length; k++) l[k] = ' ';
        else l.length = 0;
        return;
      }
      case 'J': {
        if ((n ?? 0) === 0) {
          this.line(this.row).length = Math.min(this.line(this.row).length, this.col);
          this.lines.length = this.row + 1;
        } else if (n === 2 || n === 3) {
          for (let r = top; r < this.lines.length; r++) this.lines[r] = [];
        }
        return;
      }
      default: return;
    }
  }

  /** All lines written so far (scrollback included), trailing spaces trimmed, trailing empty lines dropped. */
  text(): string[] {
    const out = this.lines.map((l) => l.join('').replace(/\s+$/, ''));
    while (out.length > 0 && out[out.length - 1] === '') out.pop();
    return out;
  }

  /** The visible screen (the last `rows` lines) as text. */
  screen(): string {
    return this.text().slice(-this.rows).join('\n');
  }
}
