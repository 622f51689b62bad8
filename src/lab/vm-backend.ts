/**
 * The lab's VM backends: what the XAPI simulator drives through its hooks (src/lab/sim-hooks.ts).
 * Two kinds of Linux guest implement it: the container guests of src/lab/guest (LabGuests) and
 * the QEMU guests of src/lab/qemu (QemuGuests: real kernels, QMP); the Windows-like guests of
 * src/lab/windows are a third. Each owns a set of VM uuids; the simulator's hooks go to the
 * backend that owns the VM.
 */
import type { SimHooks } from './sim-hooks.js';
import type { GuestInfo } from './guest/lab-guests.js';

export interface VmBackend extends SimHooks {
  /** whether this backend runs the VM with this uuid */
  has(vmUuid: string): boolean;
  /** the guests, as the lab's inventory lists them */
  list(): GuestInfo[];
  /** stop every guest it started */
  destroy(): Promise<void>;
}

/** Hooks that go to the backend owning the VM, else to `rest` (the container and Windows guests). */
export function routeHooks(backends: readonly VmBackend[], rest: SimHooks): SimHooks {
  const pick = (uuid: string): SimHooks => backends.find((b) => b.has(uuid)) ?? rest;
  return {
    onPowerOp: async (u, op) => { await pick(u).onPowerOp?.(u, op); },
    onCdChange: async (u, iso) => { await pick(u).onCdChange?.(u, iso); },
    onSnapshot: async (u, s) => { await pick(u).onSnapshot?.(u, s); },
    onRevert: async (u, s) => { await pick(u).onRevert?.(u, s); },
    onSnapshotDestroy: async (u, s) => { await pick(u).onSnapshotDestroy?.(u, s); },
  };
}
