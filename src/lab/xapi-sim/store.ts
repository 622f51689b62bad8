import { randomUUID } from 'node:crypto';

export type Rec = Record<string, unknown>;
export const NULL_REF = 'OpaqueRef:NULL';

/**
 * The classes the simulator models, spelled as XAPI spells them. VIF and network only hold
 * records loaded from real pools (seed.ts loadRecordedRecords); no method serves them yet.
 */
export const SIM_CLASSES = ['pool', 'host', 'VM', 'VM_metrics', 'VM_guest_metrics', 'VBD', 'VDI', 'SR', 'VIF', 'network', 'task', 'Certificate'] as const;
export type SimClass = (typeof SIM_CLASSES)[number];

export interface SimEvent {
  id: number;
  timestamp: string;
  /** lower case, as XAPI reports it */
  class: string;
  operation: 'add' | 'mod' | 'del';
  ref: string;
  snapshot?: Rec;
}

/** XAPI datetime. Milliseconds are kept so freshness (`last_updated > start_time`) is exact in fast tests. */
export function xapiDate(ms: number = Date.now()): string {
  const d = new Date(ms).toISOString(); // 2026-01-26T11:51:32.123Z
  return `${d.slice(0, 4)}${d.slice(5, 7)}${d.slice(8, 10)}T${d.slice(11, 23)}Z`;
}
export const EPOCH = '19700101T00:00:00Z';

const MAX_EVENTS = 20_000;

/**
 * Object database with the event stream XAPI derives from it: every add/mod/del becomes an event
 * that `event.from` hands out by token.
 */
export class Store {
  readonly tables = new Map<string, Map<string, Rec>>();
  events: SimEvent[] = [];
  private lastId = 0;
  private waiters = new Set<() => void>();

  constructor() {
    for (const c of SIM_CLASSES) this.tables.set(c, new Map());
  }

  table(cls: string): Map<string, Rec> {
    const t = this.tables.get(cls);
    if (!t) throw new Error(`no class ${cls}`);
    return t;
  }

  get(cls: string, ref: string): Rec | undefined {
    return this.tables.get(cls)?.get(ref);
  }

  add(cls: SimClass, rec: Rec, ref = `OpaqueRef:${randomUUID()}`): string {
    if (typeof rec.uuid !== 'string') rec.uuid = randomUUID();
    this.table(cls).set(ref, rec);
    this.emit(cls, 'add', ref, rec);
    return ref;
  }

  mod(cls: SimClass, ref: string, patch: Rec): Rec {
    const rec = this.table(cls).get(ref);
    if (!rec) throw new Error(`mod of missing ${cls} ${ref}`);
    Object.assign(rec, patch);
    this.emit(cls, 'mod', ref, rec);
    return rec;
  }

  del(cls: SimClass, ref: string): void {
    const rec = this.table(cls).get(ref);
    if (!rec) return;
    this.table(cls).delete(ref);
    this.emit(cls, 'del', ref, rec);
  }

  byUuid(cls: string, uuid: string): string | undefined {
    for (const [ref, r] of this.table(cls)) if (r.uuid === uuid) return ref;
    return undefined;
  }

  get currentId(): number {
    return this.lastId;
  }

  get oldestId(): number {
    return this.events[0]?.id ?? this.lastId + 1;
  }

  private emit(cls: string, operation: SimEvent['operation'], ref: string, rec: Rec): void {
    this.events.push({
      id: ++this.lastId,
      timestamp: xapiDate(),
      class: cls.toLowerCase(),
      operation,
      ref,
      snapshot: structuredClone(rec),
    });
    if (this.events.length > MAX_EVENTS) this.events.splice(0, this.events.length - MAX_EVENTS);
    const ws = [...this.waiters];
    this.waiters.clear();
    for (const w of ws) w();
  }

  /** resolves on the next event, or after ms */
  waitForEvent(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(t);
        this.waiters.delete(done);
        resolve();
      };
      const t = setTimeout(done, ms);
      this.waiters.add(done);
    });
  }

  /** wake every pending event.from (server shutdown) */
  wakeAll(): void {
    const ws = [...this.waiters];
    this.waiters.clear();
    for (const w of ws) w();
  }

  dump(): { lastId: number; objects: Record<string, Record<string, Rec>> } {
    const objects: Record<string, Record<string, Rec>> = {};
    for (const [c, t] of this.tables) objects[c] = Object.fromEntries(t);
    return { lastId: this.lastId, objects: structuredClone(objects) };
  }

  load(d: { lastId: number; objects: Record<string, Record<string, Rec>> }): void {
    for (const c of SIM_CLASSES) {
      const t = this.table(c);
      t.clear();
      for (const [ref, r] of Object.entries(d.objects[c] ?? {})) t.set(ref, r);
    }
    this.lastId = d.lastId;
    this.events = [];
  }
}
