import { XapiFault } from './fault.js';
import type { Rec, SimEvent, Store } from './store.js';
import { xapiDate } from './store.js';

/**
 * The token is `%020Ld,%020Ld`: the database generation, then the message generation
 * (XA ocaml/xapi/xapi_event.ml:46-49); the simulator has no messages, its second part stays 0.
 */
const fmt = (id: number) => `${String(id).padStart(20, '0')},${'0'.padStart(20, '0')}`;

/** An event as XAPI sends it (XA ocaml/xapi-types/event_types.ml:21-56): `id` is a string, a delete has no snapshot. */
export interface WireEvent {
  id: string;
  timestamp: string;
  class: string;
  operation: 'add' | 'mod' | 'del';
  ref: string;
  snapshot?: Rec;
}

function wire(e: SimEvent): WireEvent {
  const out: WireEvent = { id: String(e.id), timestamp: e.timestamp, class: e.class, operation: e.operation, ref: e.ref };
  if (e.operation !== 'del' && e.snapshot) out.snapshot = e.snapshot;
  return out;
}

interface Sub { cls: string; ref?: string }

function parseSubs(classes: unknown): Sub[] {
  if (!Array.isArray(classes)) throw new XapiFault('FIELD_TYPE_ERROR', ['classes']);
  return classes.map((c) => {
    const s = String(c);
    const i = s.indexOf('/');
    return i < 0 ? { cls: s.toLowerCase() } : { cls: s.slice(0, i).toLowerCase(), ref: s.slice(i + 1) };
  });
}

function matches(subs: Sub[], cls: string, ref: string): boolean {
  return subs.some((s) => s.cls === '*' || (s.cls === cls && (s.ref === undefined || s.ref === ref)));
}

/**
 * event.from as XAPI does it: with an empty token, the current state of every subscribed object;
 * with a token, what changed since (one entry per object, its latest state), blocking up to
 * `timeout` seconds when nothing has changed yet.
 */
export async function eventFrom(
  store: Store,
  classes: unknown,
  token: unknown,
  timeout: unknown,
  stopping: () => boolean,
): Promise<{ events: WireEvent[]; valid_ref_counts: Record<string, number>; token: string }> {
  const subs = parseSubs(classes);
  const counts: Record<string, number> = {};
  for (const [cls, t] of store.tables) {
    const l = cls.toLowerCase();
    if (subs.some((s) => s.cls === '*' || s.cls === l)) counts[l] = t.size;
  }
  if (token === '' || token === undefined) {
    const events: WireEvent[] = [];
    const now = xapiDate();
    for (const [cls, t] of store.tables) {
      const l = cls.toLowerCase();
      for (const [ref, rec] of t) {
        if (matches(subs, l, ref)) events.push({ id: String(store.currentId), timestamp: now, class: l, operation: 'add', ref, snapshot: structuredClone(rec) as Rec });
      }
    }
    return { events, valid_ref_counts: counts, token: fmt(store.currentId) };
  }
  const from = Number(String(token).split(',')[0]);
  if (!Number.isFinite(from)) throw new XapiFault('EVENT_FROM_TOKEN_PARSE_FAILURE', [String(token)]);
  if (from < store.oldestId - 1) throw new XapiFault('EVENTS_LOST', []);
  const deadline = Date.now() + Math.max(0, Number(timeout) || 0) * 1000;
  for (;;) {
    const latest = new Map<string, SimEvent>();
    for (const e of store.events) {
      if (e.id > from && matches(subs, e.class, e.ref)) latest.set(`${e.class}/${e.ref}`, e);
    }
    const left = deadline - Date.now();
    if (latest.size > 0 || left <= 0 || stopping()) {
      const events = [...latest.values()].map(wire);
      return { events, valid_ref_counts: counts, token: fmt(store.currentId) };
    }
    await store.waitForEvent(left);
  }
}
