/**
 * The seam between the XAPI simulator (src/lab/xapi-sim) and the lab's guests (src/lab/guest):
 * the simulator tells the lab what the hypervisor did to a VM, and the lab tells the simulator
 * what the guest reports (as the PV drivers and the guest agent would on real Xen).
 */

export type PowerOp = 'start' | 'clean_reboot' | 'hard_reboot' | 'clean_shutdown' | 'hard_shutdown';

/** Implemented by the lab; the simulator awaits these before completing the XAPI call/task. */
export interface SimHooks {
  /** a power operation is happening; the lab stops/starts the guest's processes and changes its boot id */
  onPowerOp?(vmUuid: string, op: PowerOp): Promise<void>;
  /**
   * an ISO was inserted into (vdi) or ejected from (null) the VM's CD drive; also after VM.revert
   * (following onRevert), with what the drive holds now: the snapshot's CD, or null when empty
   */
  onCdChange?(vmUuid: string, iso: { vdiUuid: string; nameLabel: string } | null): Promise<void>;
  /** a snapshot of the VM was taken: save the guest's disk state under snapshotUuid */
  onSnapshot?(vmUuid: string, snapshotUuid: string): Promise<void>;
  /** the VM was reverted to snapshotUuid (it is now Halted): restore the disk state exactly */
  onRevert?(vmUuid: string, snapshotUuid: string): Promise<void>;
  /** the snapshot was destroyed: its saved disk state can go */
  onSnapshotDestroy?(vmUuid: string, snapshotUuid: string): Promise<void>;
}

/** What a guest reports, pushed by the lab into the simulator's VM_guest_metrics. */
export interface GuestReport {
  /** PV frontends connected (set by the hypervisor in real life) */
  pvDriversDetected: boolean;
  /** agent version, or null when no agent runs */
  agentVersion: { major: number; minor: number; micro: number; build: number } | null;
  os?: { name: string; distro: string; major: string; minor?: string; uname?: string };
  ips?: Record<string, string>;
}
