/**
 * A small declarative schema for JSON values pvrun reads back from its own files (undo tokens in
 * a run journal): each field's kind, checked into a type guard. A journal is on disk, so a value
 * from it is `unknown` until checked — a hand-edited or truncated record must not reach a command
 * line or an XAPI call as if it were what the step wrote. Extra fields are allowed (a token
 * written by a newer pvrun keeps what this one knows).
 */
type Leaf =
  | 'string' | 'number' | 'boolean' | 'string[]'
  | { enum: readonly string[] }
  | { enumArray: readonly string[] }
  /** another guard, for a nested token */
  | ((v: unknown) => boolean);

export type FieldSpec = Leaf | { optional: Leaf };

function leafOk(spec: Leaf, v: unknown): boolean {
  if (typeof spec === 'function') return spec(v);
  if (spec === 'string') return typeof v === 'string';
  if (spec === 'number') return typeof v === 'number' && Number.isFinite(v);
  if (spec === 'boolean') return typeof v === 'boolean';
  if (spec === 'string[]') return Array.isArray(v) && v.every((x) => typeof x === 'string');
  if ('enum' in spec) return typeof v === 'string' && spec.enum.includes(v);
  return Array.isArray(v) && v.every((x) => typeof x === 'string' && spec.enumArray.includes(x));
}

/** A type guard for an object with these fields. The caller names T; the fields must say the same. */
export function shape<T>(fields: { readonly [K in keyof T]-?: FieldSpec }): (raw: unknown) => raw is T {
  const entries = Object.entries(fields) as [string, FieldSpec][];
  return (raw: unknown): raw is T => {
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return false;
    const o = raw as Record<string, unknown>;
    return entries.every(([k, spec]) => {
      if (typeof spec === 'object' && 'optional' in spec) return o[k] === undefined || leafOk(spec.optional, o[k]);
      return leafOk(spec, o[k]);
    });
  };
}
