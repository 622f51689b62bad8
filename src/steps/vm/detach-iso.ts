import type { VmHandle } from '../../hypervisor/types.js';
import type { CdDrive } from '../../hypervisor/vm-cd.js';
import { ejectIso } from '../../hypervisor/vm-cd.js';
import { defineStep } from '../types.js';
import type { ApplyResult, StepContext } from '../types.js';
import { cdDrive, failureText, forgetCdDrive, isoInDrive, keepPlanned, rememberIso, takePlanned, vmOf } from './common.js';

export type DetachIsoArgs = Record<string, never>;

const PLAN_KEY = 'detach-iso';

interface Seen {
  drive: CdDrive;
  name: string;
}

export const detachIsoStep = defineStep<DetachIsoArgs>({
  type: 'detach-iso',
  description: "Eject whatever ISO is in the VM's CD drive (an empty drive, or none, is fine)",
  needs: 'vm',
  schema: { type: 'object', additionalProperties: false, properties: {} },
  shorthand: () => ({}),

  async plan(ctx) {
    const h = await vmOf(ctx);
    if (!h.ok) return { kind: 'fail', reason: h.error };
    const d = await cdDrive(ctx, h.value);
    if (!d.ok) return { kind: 'fail', reason: failureText(d.error) };
    if (!d.value) return { kind: 'ok', summary: 'no CD drive' };
    if (d.value.empty) return { kind: 'ok', summary: 'the CD drive is empty' };
    const name = (await isoInDrive(ctx, h.value, d.value)).nameLabel;
    keepPlanned(ctx, PLAN_KEY, h.value, { drive: d.value, name } satisfies Seen);
    return { kind: 'change', summary: `eject ${name}` };
  },

  async apply(ctx) {
    const h = await vmOf(ctx);
    if (!h.ok) return { kind: 'failed', reason: h.error };
    // what plan() saw a moment ago: eject right away (an emptied drive answers VBD_IS_EMPTY, a
    // rebuilt one HANDLE_INVALID, then we look again)
    const seen = takePlanned<Seen>(ctx, PLAN_KEY, h.value);
    if (seen) {
      const r = await eject(ctx, h.value, seen);
      if (r) return r;
      forgetCdDrive(ctx);
    }
    const d = await cdDrive(ctx, h.value);
    if (!d.ok) return { kind: 'failed', reason: failureText(d.error) };
    if (!d.value) return { kind: 'ok', summary: 'no CD drive' };
    if (d.value.empty) return { kind: 'ok', summary: 'the CD drive is empty' };
    return (await eject(ctx, h.value, { drive: d.value, name: (await isoInDrive(ctx, h.value, d.value)).nameLabel })) ??
      { kind: 'failed', reason: 'eject failed: the CD drive is gone' };
  },
});

/** undefined: the drive ref is gone (look it up again) */
async function eject(ctx: StepContext, h: VmHandle, s: Seen): Promise<ApplyResult | undefined> {
  await ctx.intent({ action: 'vm.cd-eject', detail: { vm: h.uuid, iso: s.name } });
  const e = await ejectIso(h, s.drive);
  if (!e.ok) {
    if (e.error.kind === 'xapi' && e.error.code === 'HANDLE_INVALID') return undefined;
    return { kind: 'failed', reason: `eject failed: ${failureText(e.error)}` };
  }
  rememberIso(ctx, h, s.drive, undefined);
  return e.value === 'was-empty' ? { kind: 'ok', summary: 'the CD drive is empty' } : { kind: 'changed', summary: `ejected ${s.name}` };
}
