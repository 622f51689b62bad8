import type { Result } from '../util/result.js';
import { err, ok } from '../util/result.js';
import type { GuestMetricsRecord, VmMetricsRecord, VmRecord } from './records.js';
import { NULL_REF } from './records.js';
import type { HypervisorFailure, MetricsHint, XapiCaller } from './types.js';
import type { VmFacts } from './vm-facts.js';
import { factsFromRecords, readVmFacts } from './vm-facts.js';
import type { EventBatch } from './xapi/events.js';

/**
 * A VM's three records (VM, VM_metrics, VM_guest_metrics) kept current from event.from snapshots,
 * the XAPI idiom for watching objects: opening costs two calls, each later change costs one
 * `event.from` whose answer carries the new records, so waiting for a reboot or for fresh guest
 * metrics does not re-read anything.
 */
export class VmWatch {
  private vm!: VmRecord;
  private metrics: VmMetricsRecord | undefined;
  private gm: GuestMetricsRecord | undefined;
  private token = '';
  /** when the records were last brought up to date (Date.now()) */
  syncedAt = 0;

  /**
   * the hint the watch was opened with (the VmHandle's), kept current: XAPI makes a new guest
   * metrics object at every boot (xen-api xapi_xenops.ml:2379-2388), so after a reboot the next
   * watch opened from the handle would otherwise start from a stale ref and need a second call
   */
  private hint: MetricsHint | undefined;

  private constructor(private readonly x: XapiCaller, readonly ref: string) {}

  private keepHint(): void {
    if (!this.hint) return;
    this.hint.metrics = this.vm.metrics;
    this.hint.guestMetrics = this.vm.guest_metrics;
  }

  /**
   * Open a watch: one `event.from` on the VM and, when `hint` names its metrics objects (the
   * refs seen when the VM was resolved), on those too — one call for all three records. Without a
   * hint, or when the hint turns out stale (a revert replaces the guest metrics), a second call
   * loads the metrics.
   */
  static async open(x: XapiCaller, ref: string, hint?: MetricsHint): Promise<Result<VmWatch, HypervisorFailure>> {
    const w = new VmWatch(x, ref);
    w.hint = hint;
    const r = await w.reload(hint);
    return r.ok ? ok(w) : r;
  }

  /** (re)read everything: the VM (and the hinted metrics), then the metrics it names if others */
  private async reload(hint?: MetricsHint): Promise<Result<void, HypervisorFailure>> {
    const hinted: string[] = [];
    if (hint?.metrics && hint.metrics !== NULL_REF) hinted.push(`vm_metrics/${hint.metrics}`);
    if (hint?.guestMetrics && hint.guestMetrics !== NULL_REF) hinted.push(`vm_guest_metrics/${hint.guestMetrics}`);
    const v = await this.x.call<EventBatch>('event.from', [[`vm/${this.ref}`, ...hinted], '', 0]);
    if (!v.ok) return v;
    const rec = v.value.events.find((e) => e.ref === this.ref && e.class.toLowerCase() === 'vm')?.snapshot as VmRecord | undefined;
    if (!rec) return err({ kind: 'xapi', code: 'HANDLE_INVALID', params: ['VM', this.ref], message: `HANDLE_INVALID: VM ${this.ref} does not exist` });
    this.vm = rec;
    this.token = v.value.token;
    this.syncedAt = Date.now();
    this.metrics = undefined;
    this.gm = undefined;
    for (const e of v.value.events) if (e.ref !== this.ref) this.apply(e.class, e.ref, e.operation, e.snapshot);
    if (this.metricSubs().join() === hinted.join()) return ok(undefined);
    this.keepHint();
    return this.loadMetrics();
  }

  private async loadMetrics(): Promise<Result<void, HypervisorFailure>> {
    const subs = this.metricSubs();
    this.metrics = undefined;
    this.gm = undefined;
    if (subs.length === 0) return ok(undefined);
    const m = await this.x.call<EventBatch>('event.from', [subs, '', 0]);
    if (!m.ok) return m;
    for (const e of m.value.events) this.apply(e.class, e.ref, e.operation, e.snapshot);
    // keep the older token: changes between the two reads are replayed by the next event.from
    return ok(undefined);
  }

  private metricSubs(): string[] {
    const s: string[] = [];
    if (this.vm.metrics !== NULL_REF) s.push(`vm_metrics/${this.vm.metrics}`);
    if (this.vm.guest_metrics !== NULL_REF) s.push(`vm_guest_metrics/${this.vm.guest_metrics}`);
    return s;
  }

  private apply(cls: string, ref: string, op: string, snap: unknown): void {
    const c = cls.toLowerCase();
    const rec = op === 'del' ? undefined : snap;
    if (c === 'vm' && ref === this.ref && rec) this.vm = rec as VmRecord;
    else if (c === 'vm_metrics' && ref === this.vm.metrics) this.metrics = rec as VmMetricsRecord | undefined;
    else if (c === 'vm_guest_metrics' && ref === this.vm.guest_metrics) this.gm = rec as GuestMetricsRecord | undefined;
  }

  /** the VM record as last seen (VBDs, snapshots …) */
  get record(): VmRecord {
    return this.vm;
  }

  get facts(): VmFacts {
    return factsFromRecords(this.ref, this.vm, this.metrics, this.gm);
  }

  /**
   * Wait up to `timeoutS` for changes and fold them in. Returns whether anything changed. A
   * replaced metrics object (revert, first agent report) is loaded by ref.
   */
  async next(timeoutS: number): Promise<Result<boolean, HypervisorFailure>> {
    const before = `${this.vm.metrics}|${this.vm.guest_metrics}`;
    const r = await this.x.call<EventBatch>('event.from', [[`vm/${this.ref}`, ...this.metricSubs()], this.token, timeoutS]);
    if (!r.ok) {
      if (r.error.kind === 'xapi' && r.error.code === 'EVENTS_LOST') {
        const again = await this.reload({ metrics: this.vm.metrics, guestMetrics: this.vm.guest_metrics });
        return again.ok ? ok(true) : again;
      }
      return r;
    }
    this.token = r.value.token;
    this.syncedAt = Date.now();
    for (const e of r.value.events) {
      if (e.operation === 'del' && e.class.toLowerCase() === 'vm' && e.ref === this.ref) {
        return err({ kind: 'xapi', code: 'HANDLE_INVALID', params: ['VM', this.ref], message: `HANDLE_INVALID: VM ${this.ref} was destroyed` });
      }
      this.apply(e.class, e.ref, e.operation, e.snapshot);
    }
    if (`${this.vm.metrics}|${this.vm.guest_metrics}` !== before) {
      this.keepHint();
      const m = await this.loadMetrics();
      if (!m.ok) return m;
    }
    return ok(r.value.events.length > 0);
  }
}

export interface WaitFactsOptions {
  timeoutMs: number;
  signal?: AbortSignal;
  what: string;
  /** an open watch to reuse (its token predates the operation being waited for) */
  watch?: VmWatch;
  /** metrics refs for opening a watch in one call (VmHandle.metrics) */
  hint?: MetricsHint;
}

/**
 * Wait until `done(facts)`; event-driven through VmWatch. If the pool refuses event.from, fall
 * back to reading the facts at most once a second.
 */
export async function waitForFacts(x: XapiCaller, ref: string, done: (f: VmFacts) => boolean, o: WaitFactsOptions): Promise<Result<VmFacts, HypervisorFailure>> {
  const deadline = Date.now() + o.timeoutMs;
  let w = o.watch;
  if (!w) {
    const opened = await VmWatch.open(x, ref, o.hint);
    if (!opened.ok && opened.error.kind !== 'xapi') return opened;
    if (opened.ok) w = opened.value;
  }
  for (;;) {
    if (w) {
      if (done(w.facts)) return ok(w.facts);
    } else {
      const f = await readVmFacts(x, ref);
      if (!f.ok) return f;
      if (done(f.value)) return f;
    }
    const left = deadline - Date.now();
    if (left <= 0) return err({ kind: 'timeout', message: `timed out after ${o.timeoutMs} ms waiting for ${o.what}` });
    if (o.signal?.aborted) return err({ kind: 'transport', message: `aborted while waiting for ${o.what}` });
    if (w) {
      // event.from cannot be interrupted: with a signal to honour, block for shorter spells
      const n = await w.next(Math.max(0.1, Math.min(left / 1000, o.signal ? 5 : 30)));
      if (!n.ok) {
        if (n.error.kind !== 'xapi' || n.error.code === 'HANDLE_INVALID') return n;
        w = undefined; // event.from refused: poll instead
      }
    } else {
      await new Promise((r) => setTimeout(r, Math.min(1000, left)));
    }
  }
}
