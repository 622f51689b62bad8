// Which steps run, by tags and --start-at-step. Cleanup steps and rollback are never filtered.
//   --tags a,b       steps tagged a or b, plus steps tagged 'always'
//   --skip-tags c    minus steps tagged c (even 'always' ones, if c is 'always')
//   'never'          a step tagged 'never' runs only when one of its tags is asked for
//   --tags all       every step except 'never' ones (the default)
import type { StepSpec } from '../model/playbook.js';

export function splitTags(list: readonly string[] | undefined): string[] {
  return (list ?? []).flatMap((t) => t.split(',')).map((t) => t.trim()).filter((t) => t !== '');
}

export function isSelectedByTags(step: Pick<StepSpec, 'tags'>, tags: readonly string[], skipTags: readonly string[]): boolean {
  const t = new Set(step.tags);
  if (skipTags.some((s) => t.has(s))) return false;
  const asked = tags.filter((x) => x !== 'all');
  const explicit = asked.some((a) => t.has(a) && a !== 'always');
  if (t.has('never')) return explicit || tags.includes('never');
  if (tags.length === 0 || tags.includes('all')) return true;
  return explicit || t.has('always');
}
