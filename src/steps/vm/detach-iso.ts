import { ejectIso, findCdDrive, isoName } from '../../hypervisor/vm-cd.js';
import { defineStep } from '../types.js';
import { failureText, vmOf } from './common.js';

export type DetachIsoArgs = Record<string, never>;

export const detachIsoStep = defineStep<DetachIsoArgs>({
  type: 'detach-iso',
  description: "Eject whatever ISO is in the VM's CD drive (an empty drive, or none, is fine)",
  needs: 'vm',
  schema: { type: 'object', additionalProperties: false, properties: {} },
  shorthand: () => ({}),

  async plan(ctx) {
    const h = await vmOf(ctx);
    if (!h.ok) return { kind: 'fail', reason: h.error };
    const d = await findCdDrive(h.value.xapi, h.value.ref);
    if (!d.ok) return { kind: 'fail', reason: failureText(d.error) };
    if (!d.value) return { kind: 'ok', summary: 'no CD drive' };
    if (d.value.empty) return { kind: 'ok', summary: 'the CD drive is empty' };
    return { kind: 'change', summary: `eject ${await isoName(h.value.xapi, d.value.vdi)}` };
  },

  async apply(ctx) {
    const h = await vmOf(ctx);
    if (!h.ok) return { kind: 'failed', reason: h.error };
    const d = await findCdDrive(h.value.xapi, h.value.ref);
    if (!d.ok) return { kind: 'failed', reason: failureText(d.error) };
    if (!d.value) return { kind: 'ok', summary: 'no CD drive' };
    if (d.value.empty) return { kind: 'ok', summary: 'the CD drive is empty' };
    const name = await isoName(h.value.xapi, d.value.vdi);
    await ctx.intent({ action: 'vm.cd-eject', detail: { vm: h.value.uuid, iso: name } });
    const e = await ejectIso(h.value, d.value);
    if (!e.ok) return { kind: 'failed', reason: `eject failed: ${failureText(e.error)}` };
    return e.value === 'was-empty' ? { kind: 'ok', summary: 'the CD drive is empty' } : { kind: 'changed', summary: `ejected ${name}` };
  },
});
