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
