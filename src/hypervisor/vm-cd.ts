import type { Result } from '../util/result.js';
import { err, ok } from '../util/result.js';
import type { SrRecord, VbdRecord, VdiRecord } from './records.js';
import { NULL_REF } from './records.js';
import type { HypervisorFailure, VmHandle, XapiCaller } from './types.js';
import { readRecords } from './read-records.js';

export interface CdDrive {
  ref: string;
  empty: boolean;
  /** the ISO in the drive, when not empty */
  vdi: string;
}

export interface Iso {
  ref: string;
  uuid: string;
  nameLabel: string;
}

const fail = (message: string): HypervisorFailure => ({ kind: 'vm-not-found', message });

/** The VM's CD drive (the VBD with type CD), or undefined when it has none: VM.get_VBDs + one read of their records. */
export async function findCdDrive(x: XapiCaller, vmRef: string): Promise<Result<CdDrive | undefined, HypervisorFailure>> {
  const vbds = await x.call<string[]>('VM.get_VBDs', [vmRef]);
  if (!vbds.ok) return vbds;
  const recs = await readRecords<VbdRecord>(x, 'VBD', vbds.value);
  if (!recs.ok) return recs;
  const cds: (CdDrive & { userdevice: number })[] = [];
  for (const [ref, r] of recs.value) {
    if (r.type === 'CD') cds.push({ ...cdOf(ref, r), userdevice: Number(r.userdevice) });
  }
  // several CD drives are rare; the lowest userdevice is the one guests see first
  cds.sort((a, b) => a.userdevice - b.userdevice);
  const first = cds[0];
  return ok(first ? { ref: first.ref, empty: first.empty, vdi: first.vdi } : undefined);
}

const cdOf = (ref: string, r: VbdRecord): CdDrive => ({ ref, empty: r.empty || r.VDI === NULL_REF, vdi: r.VDI });

/**
 * A CD drive known by ref (remembered from findCdDrive): one VBD.get_record. `undefined` when the
 * ref is gone (a revert rebuilds CD VBDs with new refs) or is no longer this VM's CD drive; then
 * look it up again with findCdDrive.
 */
export async function readCdDrive(x: XapiCaller, vmRef: string, vbdRef: string): Promise<Result<CdDrive | undefined, HypervisorFailure>> {
  const r = await x.call<VbdRecord>('VBD.get_record', [vbdRef]);
  if (!r.ok) return r.error.kind === 'xapi' && r.error.code === 'HANDLE_INVALID' ? ok(undefined) : r;
  if (r.value.VM !== vmRef || r.value.type !== 'CD') return ok(undefined);
  return ok(cdOf(vbdRef, r.value));
}

/**
 * The pool's tools ISO, remembered per caller (PoolSessions hands out one caller per pool), so a
 * run over many VMs looks it up once. Forgotten when it turns out stale.
 */
const toolsCache = new WeakMap<XapiCaller, Promise<Result<Iso, HypervisorFailure>>>();

export function findToolsIso(x: XapiCaller): Promise<Result<Iso, HypervisorFailure>> {
  let p = toolsCache.get(x);
  if (!p) {
    p = lookupToolsIso(x);
    toolsCache.set(x, p);
    void p.then((r) => { if (!r.ok) toolsCache.delete(x); });
  }
  return p;
}

export function forgetToolsIso(x: XapiCaller): void {
  toolsCache.delete(x);
}

/** The tools ISO: SR with is_tools_sr, VDI with is_tools_iso and not missing; fallback by name. */
async function lookupToolsIso(x: XapiCaller): Promise<Result<Iso, HypervisorFailure>> {
  const srs = await x.call<Record<string, SrRecord>>('SR.get_all_records', []);
  if (!srs.ok) return srs;
  for (const sr of Object.values(srs.value)) {
    if (!sr.is_tools_sr) continue;
    const vdis = await readRecords<VdiRecord>(x, 'VDI', sr.VDIs);
    if (!vdis.ok) continue;
    for (const [ref, v] of vdis.value) {
      if (v.is_tools_iso && !v.missing) return ok({ ref, uuid: v.uuid, nameLabel: v.name_label });
    }
  }
  const byName = await findIso(x, 'guest-tools.iso');
  if (byName.ok) return byName;
  return err(fail('no tools ISO on this pool (no SR with is_tools_sr holding a VDI with is_tools_iso, and no guest-tools.iso)'));
}

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** An ISO by uuid or name_label (must be unambiguous and not missing). */
export async function findIso(x: XapiCaller, nameOrUuid: string): Promise<Result<Iso, HypervisorFailure>> {
  if (UUID_RE.test(nameOrUuid)) {
    const ref = await x.call<string>('VDI.get_by_uuid', [nameOrUuid]);
    if (!ref.ok) {
      return ref.error.kind === 'xapi' && ref.error.code === 'UUID_INVALID' ? err(fail(`no ISO with uuid ${nameOrUuid}`)) : ref;
    }
    const r = await x.call<VdiRecord>('VDI.get_record', [ref.value]);
    if (!r.ok) return r;
    return ok({ ref: ref.value, uuid: r.value.uuid, nameLabel: r.value.name_label });
  }
  const refs = await x.call<string[]>('VDI.get_by_name_label', [nameOrUuid]);
  if (!refs.ok) return refs;
  const found: Iso[] = [];
  for (const ref of refs.value) {
    const r = await x.call<VdiRecord>('VDI.get_record', [ref]);
    if (r.ok && !r.value.missing && !r.value.is_a_snapshot) found.push({ ref, uuid: r.value.uuid, nameLabel: r.value.name_label });
  }
  if (found.length === 0) return err(fail(`no ISO named '${nameOrUuid}'`));
  if (found.length > 1) {
    return err({
      kind: 'vm-ambiguous', message: `${found.length} ISOs are named '${nameOrUuid}'; give a uuid: ${found.map((f) => f.uuid).join(', ')}`,
      candidates: found.map((f) => ({ uuid: f.uuid, name_label: f.nameLabel })),
    });
  }
  return ok(found[0]!);
}

/**
 * Insert and eject are quick (the drive's media changes, nothing is copied): plain synchronous
 * calls under the client's per-call timeout, not Async + task (which would cost three calls more).
 */
export async function insertIso(h: VmHandle, drive: CdDrive, iso: Iso): Promise<Result<void, HypervisorFailure>> {
  const r = await h.xapi.call('VBD.insert', [drive.ref, iso.ref]);
  if (!r.ok && r.error.kind === 'xapi' && (r.error.code === 'HANDLE_INVALID' || r.error.code === 'VDI_MISSING')) forgetToolsIso(h.xapi);
  return r.ok ? ok(undefined) : r;
}

/** Eject; an already-empty drive is fine (VBD_IS_EMPTY is success here). */
export async function ejectIso(h: VmHandle, drive: CdDrive): Promise<Result<'ejected' | 'was-empty', HypervisorFailure>> {
  const r = await h.xapi.call('VBD.eject', [drive.ref]);
  if (r.ok) return ok('ejected');
  if (r.error.kind === 'xapi' && r.error.code === 'VBD_IS_EMPTY') return ok('was-empty');
  return r;
}

/** the name of the ISO in a drive, for messages */
export async function isoName(x: XapiCaller, vdi: string): Promise<string> {
  if (vdi === NULL_REF) return '(empty)';
  const r = await x.call<string>('VDI.get_name_label', [vdi]);
  return r.ok ? r.value : vdi;
}

/** uuid and name of the ISO in a drive (one read), for messages and undo tokens */
export async function isoInfo(x: XapiCaller, vdi: string): Promise<{ uuid: string; nameLabel: string }> {
  if (vdi === NULL_REF) return { uuid: '', nameLabel: '(empty)' };
  const r = await x.call<VdiRecord>('VDI.get_record', [vdi]);
  return r.ok ? { uuid: r.value.uuid, nameLabel: r.value.name_label } : { uuid: '', nameLabel: vdi };
}
