import { detachIsoInfo } from '../catalog.js';
import type { VmHandle } from '../../hypervisor/types.js';
import type { CdDrive } from '../../hypervisor/vm-cd.js';
import { ejectIso, findIso, insertIso } from '../../hypervisor/vm-cd.js';
import { defineStep } from '../types.js';
import type { ApplyResult, StepContext } from '../types.js';
import { cdDrive, failureText, forgetCdDrive, isoInDrive, rememberIso, seenNow, stillSeen, vmOf, type Seen } from './common.js';
import { shape } from '../../util/shape.js';

export type DetachIsoArgs = Record<string, never>;


interface InDrive {
  drive: CdDrive;
  name: string;
  uuid: string;
}

/** what undo() needs: the ISO this step ejected */
export interface DetachIsoToken {
  isoUuid: string;
}

const isDetachIsoToken = shape<DetachIsoToken>({ isoUuid: 'string' });

export const detachIsoStep = defineStep<DetachIsoArgs, Seen<InDrive>, DetachIsoToken>({
  ...detachIsoInfo, // type, description, schema, shorthand, flags: src/steps/catalog.ts
  undoToken: isDetachIsoToken,

  async plan(ctx) {
    const h = await vmOf(ctx);
    if (!h.ok) return { kind: 'fail', reason: h.error };
    const d = await cdDrive(ctx, h.value);
    if (!d.ok) return { kind: 'fail', reason: failureText(d.error) };
    if (!d.value) return { kind: 'ok', summary: 'no CD drive' };
    if (d.value.empty) return { kind: 'ok', summary: 'the CD drive is empty' };
    const iso = await isoInDrive(ctx, h.value, d.value);
    return { kind: 'change', summary: `eject ${iso.nameLabel}`, planned: seenNow(h.value, { drive: d.value, name: iso.nameLabel, uuid: iso.uuid }) };
  },

  async apply(ctx, _args, plan) {
    const h = await vmOf(ctx);
    if (!h.ok) return { kind: 'failed', reason: h.error };
    // what plan() saw a moment ago: eject right away (an emptied drive answers VBD_IS_EMPTY, a
    // rebuilt one HANDLE_INVALID, then we look again)
    const seen = stillSeen(plan.planned, h.value);
    if (seen) {
      const r = await eject(ctx, h.value, seen);
      if (r) return r;
      forgetCdDrive(ctx);
    }
    const d = await cdDrive(ctx, h.value);
    if (!d.ok) return { kind: 'failed', reason: failureText(d.error) };
    if (!d.value) return { kind: 'ok', summary: 'no CD drive' };
    if (d.value.empty) return { kind: 'ok', summary: 'the CD drive is empty' };
    const iso = await isoInDrive(ctx, h.value, d.value);
    return (await eject(ctx, h.value, { drive: d.value, name: iso.nameLabel, uuid: iso.uuid })) ??
      { kind: 'failed', reason: 'eject failed: the CD drive is gone' };
  },

  // put back the ISO this step ejected (rollback without a revert), if the drive is still empty
  async undo(ctx, _args, token) {
    const t = token;
    if (!t?.isoUuid) return { ok: true, summary: 'no record of the ejected ISO: nothing to put back' };
    const h = await vmOf(ctx);
    if (!h.ok) return { ok: false, reason: h.error };
    const drive = await cdDrive(ctx, h.value);
    if (!drive.ok) return { ok: false, reason: failureText(drive.error) };
    if (!drive.value) return { ok: false, reason: `${h.value.nameLabel} has no CD drive any more: cannot re-insert the ejected ISO` };
    if (!drive.value.empty) return { ok: true, summary: 'the drive holds an ISO again; left as is' };
    const iso = await findIso(h.value.xapi, t.isoUuid);
    if (!iso.ok) return { ok: false, reason: `cannot re-insert the ejected ISO ${t.isoUuid}: ${failureText(iso.error)}` };
    await ctx.intent({ action: 'vm.cd-insert', detail: { vm: h.value.uuid, iso: t.isoUuid } });
    const r = await insertIso(h.value, drive.value, iso.value);
    if (!r.ok) return { ok: false, reason: `re-inserting ${iso.value.nameLabel} failed: ${failureText(r.error)}` };
    rememberIso(ctx, h.value, drive.value, iso.value);
    return { ok: true, summary: `re-inserted ${iso.value.nameLabel}` };
  },
});

/** undefined: the drive ref is gone (look it up again) */
async function eject(ctx: StepContext, h: VmHandle, s: InDrive): Promise<ApplyResult<DetachIsoToken> | undefined> {
  await ctx.intent({ action: 'vm.cd-eject', detail: { vm: h.uuid, iso: s.name } });
  const e = await ejectIso(h, s.drive);
  if (!e.ok) {
    if (e.error.kind === 'xapi' && e.error.code === 'HANDLE_INVALID') return undefined;
    return { kind: 'failed', reason: `eject failed: ${failureText(e.error)}` };
  }
  rememberIso(ctx, h, s.drive, undefined);
  if (e.value === 'was-empty') return { kind: 'ok', summary: 'the CD drive is empty' };
  const undo: DetachIsoToken | undefined = s.uuid ? { isoUuid: s.uuid } : undefined;
  return { kind: 'changed', summary: `ejected ${s.name}`, ...(undo ? { undo } : {}) };
}
