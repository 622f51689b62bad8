// Whether a value holds template text at all: the loader's plan and the engine skip rendering
// (and copying, and validating again) arguments without any, per host and per step (issue 17).

/**
 * Whether any string in `value` holds `{{` (stops at the first). Without one, `render` returns an
 * equal copy with no errors (only strings are rendered, never keys), so callers skip it.
 */
export function hasTemplateText(value: unknown): boolean {
  if (typeof value === 'string') return value.includes('{{');
  if (Array.isArray(value)) return value.some(hasTemplateText);
  if (value !== null && typeof value === 'object') {
    for (const k in value) if (Object.hasOwn(value, k) && hasTemplateText((value as Record<string, unknown>)[k])) return true;
  }
  return false;
}
