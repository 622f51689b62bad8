import type { Result } from '../util/result.js';
import { ok } from '../util/result.js';
import type { HypervisorFailure, XapiCaller } from './types.js';
import type { EventBatch } from './xapi/events.js';

const gone = (e: HypervisorFailure) => e.kind === 'xapi' && e.code === 'HANDLE_INVALID';

/**
 * The records of several objects of one class in one call: `event.from` with an empty token
 * answers with the current snapshot of every subscribed object (`vbd/OpaqueRef:…`), the XAPI idiom
 * for loading known objects (VmWatch uses it too). One ref is a plain `<class>.get_record`. Objects
 * that no longer exist are left out of the map. A pool that refuses event.from gets get_record
 * per object (in parallel).
 */
export async function readRecords<T>(x: XapiCaller, cls: string, refs: string[]): Promise<Result<Map<string, T>, HypervisorFailure>> {
  const out = new Map<string, T>();
  if (refs.length > 1) {
    const lower = cls.toLowerCase();
    const r = await x.call<EventBatch>('event.from', [refs.map((ref) => `${lower}/${ref}`), '', 0]);
    if (r.ok) {
      const wanted = new Set(refs);
      for (const e of r.value.events) {
        if (e.class.toLowerCase() === lower && wanted.has(e.ref) && e.operation !== 'del' && e.snapshot) out.set(e.ref, e.snapshot as T);
      }
      return ok(out);
    }
    if (r.error.kind !== 'xapi') return r;
  }
  const recs = await Promise.all(refs.map(async (ref) => ({ ref, r: await x.call<T>(`${cls}.get_record`, [ref]) })));
  for (const { ref, r } of recs) {
    if (r.ok) out.set(ref, r.value);
    else if (!gone(r.error)) return r;
  }
  return ok(out);
}
