/**
 * Secrets are references, never literal values in playbooks or inventories:
 * `{ env: NAME }` or `{ file: path }`. They are resolved at run time by src/load/secrets.ts,
 * which registers every resolved value with the redactor.
 */
export type SecretRef = { env: string } | { file: string };

export function isSecretRef(v: unknown): v is SecretRef {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
  const keys = Object.keys(v);
  return keys.length === 1 && (keys[0] === 'env' || keys[0] === 'file') &&
    typeof (v as Record<string, unknown>)[keys[0]!] === 'string';
}

/**
 * What a value written where a secret reference belongs is, for an error message, without its
 * content: a literal `password: hunter2` is refused, and the refusal must not print it.
 */
export function describeSecretValue(v: unknown): string {
  if (v === null || v === undefined) return 'nothing';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a map';
  if (typeof v === 'string') return 'a literal value (not shown: secrets are never written in playbooks or inventories)';
  return `a literal ${typeof v} (not shown)`;
}

/** The keys whose value is a secret (a hypervisor's password; a connection's password, key passphrase, become password). */
export const SECRET_KEYS: ReadonlySet<string> = new Set(['password', 'passphrase', 'become_password']);
