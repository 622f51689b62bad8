/**
 * Freeze a plain value (maps and lists, all the way down) in place and return it.
 *
 * Why: a step's arguments without a template are one object shared by every host's plan (issue
 * 17: no copy per host; src/load/project.ts). A step that wrote to its arguments would change
 * them for every other host. Frozen, such a write throws (ES modules are strict code), and the
 * engine reports it as a bug in that step, on that host, instead of passing it on silently.
 */
export function deepFreeze<T>(value: T): T {
  const stack: unknown[] = [value];
  while (stack.length > 0) {
    const v = stack.pop();
    if (typeof v !== 'object' || v === null || Object.isFrozen(v)) continue;
    Object.freeze(v);
    for (const k of Object.keys(v)) stack.push((v as Record<string, unknown>)[k]);
  }
  return value;
}
