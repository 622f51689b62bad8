import type { XapiCaller } from '../../hypervisor/types.js';
import type { CdDrive, Iso } from '../../hypervisor/vm-cd.js';
import { ejectIso, findCdDrive, findIso, findToolsIso, insertIso, isoName } from '../../hypervisor/vm-cd.js';
import type { Result } from '../../util/result.js';
import { err, ok } from '../../util/result.js';
import { defineStep } from '../types.js';
import { failureText, vmOf } from './common.js';

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

async function situation(x: XapiCaller, vmRef: string, isoArg: string | undefined): Promise<Result<Situation, string>> {
  const drive = await findCdDrive(x, vmRef);
  if (!drive.ok) return err(failureText(drive.error));
  if (!drive.value) return ok({ kind: 'no-drive' });
  const iso = !isoArg || isoArg === 'tools' ? await findToolsIso(x) : await findIso(x, isoArg);
  if (!iso.ok) return err(failureText(iso.error));
  const d = drive.value;
  if (d.empty) return ok({ kind: 'empty', drive: d, iso: iso.value });
  if (d.vdi === iso.value.ref) return ok({ kind: 'already', drive: d, iso: iso.value });
  const uuid = await x.call<string>('VDI.get_uuid', [d.vdi]);
  return ok({ kind: 'other', drive: d, iso: iso.value, current: await isoName(x, d.vdi), currentUuid: uuid.ok ? uuid.value : '' });
}

const NO_DRIVE = 'has no CD drive: add one (Xen Orchestra: VM > Disks > "Add CD drive", or `xe vm-cd-add`) and run again';

export const attachIsoStep = defineStep<AttachIsoArgs>({
  type: 'attach-iso',
  description: "Insert an ISO (default: the pool's guest tools ISO) into the VM's CD drive; undo ejects it",
  needs: 'vm',
  schema: {
    type: 'object',
    additionalProperties: false,
    properties: { iso: { type: 'string', minLength: 1 }, replace: { type: 'boolean' } },
  },
  shorthand: (v) => (typeof v === 'string' ? { iso: v } : {}),

  async plan(ctx, args) {
    const h = await vmOf(ctx);
    if (!h.ok) return { kind: 'fail', reason: h.error };
    const s = await situation(h.value.xapi, h.value.ref, args.iso);
    if (!s.ok) return { kind: 'fail', reason: s.error };
    const v = s.value;
    switch (v.kind) {
      case 'no-drive': return { kind: 'fail', reason: `${h.value.nameLabel} ${NO_DRIVE}` };
      case 'already': return { kind: 'ok', summary: `${v.iso.nameLabel} is already in the drive` };
      case 'empty': return { kind: 'change', summary: `insert ${v.iso.nameLabel}` };
      case 'other':
        return args.replace
          ? { kind: 'change', summary: `eject ${v.current}, insert ${v.iso.nameLabel}` }
          : { kind: 'fail', reason: `the CD drive holds ${v.current}; set replace: true to eject it first` };
    }
  },

  async apply(ctx, args) {
    const h = await vmOf(ctx);
    if (!h.ok) return { kind: 'failed', reason: h.error };
    // re-read: refs may have changed since plan (a revert rebuilds CD drives)
    const s = await situation(h.value.xapi, h.value.ref, args.iso);
    if (!s.ok) return { kind: 'failed', reason: s.error };
    const v = s.value;
    if (v.kind === 'no-drive') return { kind: 'failed', reason: `${h.value.nameLabel} ${NO_DRIVE}` };
    if (v.kind === 'already') return { kind: 'ok', summary: `${v.iso.nameLabel} is already in the drive` };
    let previousUuid: string | undefined;
    if (v.kind === 'other') {
      if (!args.replace) return { kind: 'failed', reason: `the CD drive holds ${v.current}; set replace: true to eject it first` };
      await ctx.intent({ action: 'vm.cd-eject', detail: { vm: h.value.uuid, iso: v.currentUuid } });
      const e = await ejectIso(h.value, v.drive);
      if (!e.ok) return { kind: 'failed', reason: `eject of ${v.current} failed: ${failureText(e.error)}` };
      previousUuid = v.currentUuid;
    }
    await ctx.intent({ action: 'vm.cd-insert', detail: { vm: h.value.uuid, iso: v.iso.uuid } });
    const r = await insertIso(h.value, v.drive, v.iso);
    if (!r.ok) return { kind: 'failed', reason: `insert of ${v.iso.nameLabel} failed: ${failureText(r.error)}` };
    const token: AttachIsoToken = { isoUuid: v.iso.uuid, ...(previousUuid ? { previousUuid } : {}) };
    return {
      kind: 'changed',
      summary: `inserted ${v.iso.nameLabel}${v.kind === 'other' ? ` (ejected ${v.current})` : ''}`,
      data: { iso_uuid: v.iso.uuid, iso_name: v.iso.nameLabel },
      undo: token,
    };
  },

  async undo(ctx, args, token) {
    const h = await vmOf(ctx);
    if (!h.ok) return { ok: false, reason: h.error };
    const drive = await findCdDrive(h.value.xapi, h.value.ref);
    if (!drive.ok) return { ok: false, reason: failureText(drive.error) };
    if (!drive.value || drive.value.empty) return { ok: true, summary: 'the CD drive is already empty' };
    // only eject what this step inserted (an unknown token: the ISO the args name)
    const t = token as Partial<AttachIsoToken> | undefined;
    let ours = t?.isoUuid;
    if (!ours) {
      const iso = !args.iso || args.iso === 'tools' ? await findToolsIso(h.value.xapi) : await findIso(h.value.xapi, args.iso);
      ours = iso.ok ? iso.value.uuid : undefined;
    }
    const cur = await h.value.xapi.call<string>('VDI.get_uuid', [drive.value.vdi]);
    if (!cur.ok || cur.value !== ours) return { ok: true, summary: 'the drive holds another ISO; left as is' };
    await ctx.intent({ action: 'vm.cd-eject', detail: { vm: h.value.uuid, iso: ours } });
    const e = await ejectIso(h.value, drive.value);
    if (!e.ok) return { ok: false, reason: `eject failed: ${failureText(e.error)}` };
    if (t?.previousUuid) {
      const prev = await findIso(h.value.xapi, t.previousUuid);
      if (prev.ok) {
        const again = await insertIso(h.value, drive.value, prev.value);
        if (!again.ok) return { ok: false, reason: `ejected, but re-inserting ${prev.value.nameLabel} failed: ${failureText(again.error)}` };
        return { ok: true, summary: `ejected the ISO, re-inserted ${prev.value.nameLabel}` };
      }
    }
    return { ok: true, summary: 'ejected the ISO' };
  },
});
