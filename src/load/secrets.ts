// Secret references ({ env: NAME } / { file: path }) are resolved at run time, never at load
// time, and every resolved value is registered with the redactor before anyone can print it.
import { readFileSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import type { Inventory } from '../model/inventory.js';
import type { SecretRef } from '../model/secret.js';
import { describeSecretValue, isSecretRef } from '../model/secret.js';
import type { SourcePos } from '../model/source.js';
import { Redactor, redactor as processRedactor } from '../util/redact.js';
import type { Result } from '../util/result.js';
import { err, ok } from '../util/result.js';
import type { Diagnostic } from './diagnostics.js';
import { diagnostic } from './diagnostics.js';

export interface ResolveSecretOptions {
  /** where the reference was written (e.g. HypervisorSpec.pos), for the error's position */
  pos?: SourcePos;
  /** what the secret is for, e.g. "password of hypervisor 'pool-a'" */
  what?: string;
  env?: NodeJS.ProcessEnv;
  /** base for relative `file:` paths (default: the process's directory) */
  baseDir?: string;
  /** default: the process-wide redactor */
  redactor?: Redactor;
}

/**
 * Resolve one secret reference. A `file:` secret is the file's content without its trailing
 * newline. The value is registered with the redactor (its plain, base64 and URL-encoded forms).
 */
export function resolveSecret(ref: unknown, opts: ResolveSecretOptions = {}): Result<string, Diagnostic> {
  const pos = opts.pos ?? { file: '<secret>', line: 1, col: 1 };
  const forWhat = opts.what ? ` (${opts.what})` : '';
  if (!isSecretRef(ref)) {
    return err(diagnostic(pos, `bad secret reference${forWhat}: expected { env: NAME } or { file: path }, got ${describeSecretValue(ref)}`));
  }
  let value: string;
  if ('env' in ref) {
    const v = prompted.get(ref.env) ?? (opts.env ?? process.env)[ref.env];
    if (v === undefined) return err(diagnostic(pos, `environment variable '${ref.env}' is not set${forWhat}`));
    if (v === '') return err(diagnostic(pos, `environment variable '${ref.env}' is empty${forWhat}`));
    value = v;
  } else {
    const path = isAbsolute(ref.file) ? ref.file : join(opts.baseDir ?? process.cwd(), ref.file);
    try {
      value = readFileSync(path, 'utf8').replace(/\r?\n$/, '');
    } catch (e) {
      const code = (e as { code?: string }).code;
      const why = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : code === 'EISDIR' ? 'is a directory' : 'cannot be read';
      return err(diagnostic(pos, `secret file '${ref.file}': ${why}${forWhat}`));
    }
    if (value === '') return err(diagnostic(pos, `secret file '${ref.file}' is empty${forWhat}`));
  }
  (opts.redactor ?? processRedactor).add(value);
  return ok(value);
}

/**
 * Secrets typed at a prompt (`-K`): referenced as `{ env: NAME }` but kept in memory, never put
 * in the environment (child processes would inherit them); registered for redaction at once.
 */
export const PROMPTED_BECOME_PASSWORD = 'PVRUN_BECOME_PASSWORD';
const prompted = new Map<string, string>();
export function setPromptedSecret(name: string, value: string): void {
  prompted.set(name, value);
  processRedactor.add(value);
}

/** -K: hosts without a become_password of their own use the prompted one (as ansible-playbook -K). */
export function usePromptedBecomePassword(inv: Inventory): void {
  if (!prompted.has(PROMPTED_BECOME_PASSWORD)) return;
  for (const h of Object.values(inv.hosts)) h.connection.become_password ??= { env: PROMPTED_BECOME_PASSWORD };
}

/** Resolve several references, collecting every problem. */
export function resolveSecrets(refs: readonly { ref: SecretRef; pos?: SourcePos; what?: string }[], opts: Omit<ResolveSecretOptions, 'pos' | 'what'> = {}): Result<string[], Diagnostic[]> {
  const values: string[] = [];
  const diags: Diagnostic[] = [];
  for (const r of refs) {
    const v = resolveSecret(r.ref, { ...opts, ...(r.pos ? { pos: r.pos } : {}), ...(r.what ? { what: r.what } : {}) });
    if (v.ok) values.push(v.value);
    else diags.push(v.error);
  }
  return diags.length > 0 ? err(diags) : ok(values);
}

/**
 * Every secret reference of an inventory with where it belongs, e.g. to check them all before a
 * run. Hypervisor refs point at the hypervisor's entry, connection refs at the host's entry
 * (connection settings are merged from groups, so the host is the useful position).
 */
export function inventorySecretRefs(inv: Inventory): { ref: SecretRef; pos: SourcePos; what: string }[] {
  const out: { ref: SecretRef; pos: SourcePos; what: string }[] = [];
  for (const h of Object.values(inv.hypervisors)) {
    if (isSecretRef(h.username)) out.push({ ref: h.username, pos: h.pos, what: `username of hypervisor '${h.name}'` });
    out.push({ ref: h.password, pos: h.pos, what: `password of hypervisor '${h.name}'` });
  }
  for (const host of Object.values(inv.hosts)) {
    for (const key of ['password', 'passphrase', 'become_password'] as const) {
      const ref = host.connection[key];
      if (ref !== undefined) out.push({ ref, pos: host.pos, what: `connection ${key} of host '${host.name}'` });
    }
  }
  return out;
}

/**
 * A diagnostic about a value written where a secret reference belongs: its message must not
 * show the value (use describeSecretValue), and its echoed source line is cut at the value's
 * column, so `password: hunter2` is shown as `password: ***`.
 */
export function withoutSecretValue(d: Diagnostic): Diagnostic {
  if (d.sourceLine === undefined) return d;
  return { ...d, sourceLine: d.sourceLine.slice(0, Math.max(0, d.col - 1)) + '***' };
}

/** Every diagnostic's message and echoed line with these literal secrets masked (a file's other errors may show them). */
export function withoutSecretLiterals(ds: Diagnostic[], literals: readonly string[]): Diagnostic[] {
  if (literals.length === 0) return ds;
  const r = new Redactor();
  for (const l of literals) r.add(l);
  return ds.map((d) => ({ ...d, message: r.redact(d.message), ...(d.sourceLine !== undefined ? { sourceLine: r.redact(d.sourceLine) } : {}) }));
}
