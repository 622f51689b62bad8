import { attachIsoInfo } from '../catalog.js';
import type { HypervisorFailure, VmHandle } from '../../hypervisor/types.js';
import type { CdDrive, Iso } from '../../hypervisor/vm-cd.js';
import { ejectIso, findIso, findToolsIso, insertIso } from '../../hypervisor/vm-cd.js';
import type { Result } from '../../util/result.js';
import { err, ok } from '../../util/result.js';
import { defineStep } from '../types.js';
import type { ApplyResult, StepContext } from '../types.js';
import { cdDrive, failureText, forgetCdDrive, isoInDrive, rememberIso, seenNow, stillSeen, vmOf, type Seen } from './common.js';
import { shape } from '../../util/shape.js';

export interface AttachIsoArgs {
  /** 'tools' (default: the pool's guest tools ISO), or an ISO name_label or uuid */
  iso?: string;
  /** eject another ISO that is in the drive first (default: fail) */
  replace?: boolean;
}

export interface AttachIsoToken {
  isoUuid: string;
  /** the ISO that was in the drive before (replace: true), reinserted by undo */
  previousUuid?: string;
}

type Situation =
  | { kind: 'no-drive' }
  | { kind: 'already'; drive: CdDrive; iso: Iso }
  | { kind: 'other'; drive: CdDrive; iso: Iso; current: string; currentUuid: string }
  | { kind: 'empty'; drive: CdDrive; iso: Iso };

const wantedIso = (x: VmHandle['xapi'], isoArg: string | undefined) =>
  !isoArg || isoArg === 'tools' ? findToolsIso(x) : findIso(x, isoArg);

async function situation(ctx: StepContext, h: VmHandle, isoArg: string | undefined): Promise<Result<Situation, string>> {
  const [drive, iso] = await Promise.all([cdDrive(ctx, h), wantedIso(h.xapi, isoArg)]);
  if (!drive.ok) return err(failureText(drive.error));
  if (!drive.value) return ok({ kind: 'no-drive' });
  if (!iso.ok) return err(failureText(iso.error));
  const d = drive.value;
  if (d.empty) return ok({ kind: 'empty', drive: d, iso: iso.value });
  if (d.vdi === iso.value.ref) return ok({ kind: 'already', drive: d, iso: iso.value });
  const cur = await isoInDrive(ctx, h, d);
  return ok({ kind: 'other', drive: d, iso: iso.value, current: cur.nameLabel, currentUuid: cur.uuid });
}

const NO_DRIVE = 'has no CD drive: add one (Xen Orchestra: VM > Disks > "Add CD drive", or `xe vm-cd-add`) and run again';
/** what attach-iso's plan() hands its apply() (windows-tools-source passes it through) */
export type AttachIsoPlanned = Seen<Situation>;

export const isAttachIsoToken = shape<AttachIsoToken>({ isoUuid: 'string', previousUuid: { optional: 'string' } });

/** the drive changed under us (another ISO inserted, the VBD rebuilt): worth one fresh look */
const raced = (e: HypervisorFailure) => e.kind === 'xapi' && (e.code === 'VBD_NOT_EMPTY' || e.code === 'VBD_IS_EMPTY' || e.code === 'HANDLE_INVALID');

export const attachIsoStep = defineStep<AttachIsoArgs, AttachIsoPlanned, AttachIsoToken>({
  ...attachIsoInfo, // type, description, schema, shorthand, flags: src/steps/catalog.ts
  undoToken: isAttachIsoToken,

  async plan(ctx, args) {
    const h = await vmOf(ctx);
    if (!h.ok) return { kind: 'fail', reason: h.error };
    const s = await situation(ctx, h.value, args.iso);
    if (!s.ok) return { kind: 'fail', reason: s.error };
    const v = s.value;
    switch (v.kind) {
      case 'no-drive': return { kind: 'fail', reason: `${h.value.nameLabel} ${NO_DRIVE}` };
      case 'already': return { kind: 'ok', summary: `${v.iso.nameLabel} is already in the drive` };
      case 'empty':
        return { kind: 'change', summary: `insert ${v.iso.nameLabel}`, diff: `CD drive: (empty) -> ${v.iso.nameLabel}`, planned: seenNow(h.value, v) };
      case 'other':
        if (!args.replace) return { kind: 'fail', reason: `the CD drive holds ${v.current}; set replace: true to eject it first` };
        return { kind: 'change', summary: `eject ${v.current}, insert ${v.iso.nameLabel}`, diff: `CD drive: ${v.current} -> ${v.iso.nameLabel}`, planned: seenNow(h.value, v) };
    }
  },

  async apply(ctx, args, plan) {
    const h = await vmOf(ctx);
    if (!h.ok) return { kind: 'failed', reason: h.error };
    // what plan() saw a moment ago; if the drive changed since, XAPI says so and we look again
    const seen = stillSeen(plan.planned, h.value);
    if (seen) {
      const r = await attach(ctx, h.value, args, seen);
      if (!r.raced) return r.result;
      forgetCdDrive(ctx);
    }
    const s = await situation(ctx, h.value, args.iso);
    if (!s.ok) return { kind: 'failed', reason: s.error };
    return (await attach(ctx, h.value, args, s.value)).result;
  },

  async undo(ctx, args, token) {
    const h = await vmOf(ctx);
    if (!h.ok) return { ok: false, reason: h.error };
    const drive = await cdDrive(ctx, h.value);
    if (!drive.ok) return { ok: false, reason: failureText(drive.error) };
    if (!drive.value || drive.value.empty) return { ok: true, summary: 'the CD drive is already empty' };
    // only eject what this step inserted (an unknown token: the ISO the args name)
    const t = token;
    let ours = t?.isoUuid;
    if (!ours) {
      const iso = await wantedIso(h.value.xapi, args.iso);
      ours = iso.ok ? iso.value.uuid : undefined;
    }
    const cur = await isoInDrive(ctx, h.value, drive.value);
    if (!cur.uuid || cur.uuid !== ours) return { ok: true, summary: 'the drive holds another ISO; left as is' };
    await ctx.intent({ action: 'vm.cd-eject', detail: { vm: h.value.uuid, iso: ours } });
    const e = await ejectIso(h.value, drive.value);
    if (!e.ok) return { ok: false, reason: `eject failed: ${failureText(e.error)}` };
    rememberIso(ctx, h.value, drive.value, undefined);
    if (t?.previousUuid) {
      const prev = await findIso(h.value.xapi, t.previousUuid);
      if (prev.ok) {
        const again = await insertIso(h.value, drive.value, prev.value);
        if (!again.ok) return { ok: false, reason: `ejected, but re-inserting ${prev.value.nameLabel} failed: ${failureText(again.error)}` };
        rememberIso(ctx, h.value, drive.value, prev.value);
        return { ok: true, summary: `ejected the ISO, re-inserted ${prev.value.nameLabel}` };
      }
    }
    return { ok: true, summary: 'ejected the ISO' };
  },
});

/** act on a situation; `raced`: XAPI says the drive is not as seen (look again and retry once) */
async function attach(ctx: StepContext, h: VmHandle, args: AttachIsoArgs, v: Situation): Promise<{ result: ApplyResult<AttachIsoToken>; raced?: boolean }> {
  if (v.kind === 'no-drive') return { result: { kind: 'failed', reason: `${h.nameLabel} ${NO_DRIVE}` } };
  if (v.kind === 'already') return { result: { kind: 'ok', summary: `${v.iso.nameLabel} is already in the drive` } };
  let previousUuid: string | undefined;
  if (v.kind === 'other') {
    if (!args.replace) return { result: { kind: 'failed', reason: `the CD drive holds ${v.current}; set replace: true to eject it first` } };
    await ctx.intent({ action: 'vm.cd-eject', detail: { vm: h.uuid, iso: v.currentUuid } });
    const e = await ejectIso(h, v.drive);
    if (!e.ok) return { result: { kind: 'failed', reason: `eject of ${v.current} failed: ${failureText(e.error)}` }, raced: raced(e.error) };
    rememberIso(ctx, h, v.drive, undefined);
    previousUuid = v.currentUuid;
  }
  await ctx.intent({ action: 'vm.cd-insert', detail: { vm: h.uuid, iso: v.iso.uuid } });
  const r = await insertIso(h, v.drive, v.iso);
  if (!r.ok) {
    // after ejecting another ISO, a retry would not know what to re-insert on undo: report it
    return { result: { kind: 'failed', reason: `insert of ${v.iso.nameLabel} failed: ${failureText(r.error)}` }, raced: raced(r.error) && !previousUuid };
  }
  rememberIso(ctx, h, v.drive, v.iso);
  const token: AttachIsoToken = { isoUuid: v.iso.uuid, ...(previousUuid ? { previousUuid } : {}) };
  return {
    result: {
      kind: 'changed',
      summary: `inserted ${v.iso.nameLabel}${v.kind === 'other' ? ` (ejected ${v.current})` : ''}`,
      data: { iso_uuid: v.iso.uuid, iso_name: v.iso.nameLabel },
      undo: token,
    },
  };
}
