import type { SourcePos } from '../model/source.js';

/**
 * A located problem in the user's input. Diagnostics are collected and returned, never thrown,
 * so that every problem in a playbook and its inventories is reported in one go.
 */
export interface Diagnostic {
  /** the path as the user gave it (relative stays relative), or `<-e>`, `<--limit>` … for CLI input */
  file: string;
  /** 1-based */
  line: number;
  /** 1-based */
  col: number;
  message: string;
  /** the text of the offending line, shown under the message with a caret */
  sourceLine?: string;
  /** default 'error'; warnings do not make a load fail */
  severity?: 'error' | 'warning';
}

export function diagnostic(
  pos: SourcePos,
  message: string,
  sourceLine?: string,
  severity: 'error' | 'warning' = 'error',
): Diagnostic {
  const d: Diagnostic = { file: pos.file, line: Math.max(1, pos.line), col: Math.max(1, pos.col), message };
  if (sourceLine !== undefined) d.sourceLine = sourceLine;
  if (severity === 'warning') d.severity = 'warning';
  return d;
}

/**
 * A diagnostic about a command-line value (`-e`, `--limit`, `-i` …): the "file" is the flag,
 * the line is the value itself so the caret can point into it.
 */
export function argDiagnostic(flag: string, value: string, col: number, message: string, severity: 'error' | 'warning' = 'error'): Diagnostic {
  return diagnostic({ file: `<${flag}>`, line: 1, col }, message, value, severity);
}

export const isError = (d: Diagnostic): boolean => d.severity !== 'warning';
export const hasErrors = (ds: readonly Diagnostic[]): boolean => ds.some(isError);

/** Stable order: by file (first appearance), line, column; duplicates removed. */
export function sortDiagnostics(ds: readonly Diagnostic[]): Diagnostic[] {
  const fileOrder = new Map<string, number>();
  for (const d of ds) if (!fileOrder.has(d.file)) fileOrder.set(d.file, fileOrder.size);
  const seen = new Set<string>();
  const out: Diagnostic[] = [];
  for (const d of ds) {
    const key = `${d.file}\0${d.line}\0${d.col}\0${d.message}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push(d);
  }
  return out.sort((a, b) =>
    (fileOrder.get(a.file)! - fileOrder.get(b.file)!) || a.line - b.line || a.col - b.col);
}

const MAX_SHOWN = 160;

/** `file:line:col: message`, then the offending line and a caret under the column. */
export function formatDiagnostic(d: Diagnostic): string {
  const prefix = d.severity === 'warning' ? 'warning: ' : '';
  let out = `${d.file}:${d.line}:${d.col}: ${prefix}${d.message}`;
  if (d.sourceLine !== undefined) {
    // Tabs are kept in the echoed line and in the caret padding so the caret lines up.
    let shown = d.sourceLine.replace(/\r$/, '');
    let col = d.col;
    // a very long line (minified, or a nesting bomb) is shown as a window around the column
    if (shown.length > MAX_SHOWN) {
      const from = Math.max(0, Math.min(col - 1 - MAX_SHOWN / 2, shown.length - MAX_SHOWN));
      const to = Math.min(shown.length, from + MAX_SHOWN);
      const head = from > 0 ? '…' : '';
      shown = `${head}${shown.slice(from, to)}${to < shown.length ? '…' : ''}`;
      col = col - from + head.length;
    }
    const pad = [...shown.slice(0, col - 1)].map((c) => (c === '\t' ? '\t' : ' ')).join('');
    out += `\n  ${shown}\n  ${pad}^`;
  }
  return out;
}

export function formatDiagnostics(ds: readonly Diagnostic[]): string {
  return ds.map(formatDiagnostic).join('\n');
}
