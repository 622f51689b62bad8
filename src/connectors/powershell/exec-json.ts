/**
 * Structured output from either PowerShell connector: the script's output objects come back as
 * JSON (ConvertTo-Json on the far side), parsed here.
 */
import type { Connector, ConnectorFailure, ExecOptions } from '../types.js';
import { ok, type Result } from '../../util/result.js';
import { jsonScript } from './wrap.js';

export interface JsonExecResult {
  exitCode: number | null;
  /** one output object → that object; none → null; several → the array of them */
  value: unknown;
  /** set when stdout was not valid JSON (the script failed before printing it) */
  parseError?: string;
  stdout: string;
  stderr: string;
}

/**
 * Run `script` with `$ErrorActionPreference = 'Stop'` (any error ends it with exit 1) and return
 * its output as data. Connector failures stay failures; a failing script is a result with a
 * non-zero exitCode and the error text in stderr.
 */
export async function execJson(
  conn: Pick<Connector, 'exec'>, script: string, opts: ExecOptions & { depth?: number } = {},
): Promise<Result<JsonExecResult, ConnectorFailure>> {
  const { depth, ...execOpts } = opts;
  const r = await conn.exec(jsonScript(script, depth), execOpts);
  if (!r.ok) return r;
  const { exitCode, stdout, stderr } = r.value;
  const out: JsonExecResult = { exitCode, value: null, stdout, stderr };
  const text = stdout.trim();
  if (exitCode === 0 || text.startsWith('[')) {
    try {
      const arr = JSON.parse(text) as unknown;
      out.value = Array.isArray(arr) ? (arr.length === 0 ? null : arr.length === 1 ? arr[0] : arr) : arr;
    } catch (e) {
      out.parseError = `output is not JSON: ${(e as Error).message}`;
    }
  }
  return ok(out);
}
