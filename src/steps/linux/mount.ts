/**
 * mount: put a device (by default the CD drive) on a mount point, read-only by default. Like the
 * manual procedure it refuses a mount point that is not empty or already used by something else;
 * the same device already mounted there is "ok". undo() unmounts what this step mounted.
 */
import { mountInfo } from '../catalog.js';
import { quoteShell } from '../../util/shell-quote.js';
import { defineStep, type StepFailure } from '../types.js';
import { applyFail, commandFailed, failureText, planFail, probe, run } from './common.js';
import { CD_CANDIDATES, mountProbeCommand, parseMountProbe, type MountProbe } from './mounts.js';
import { shape } from '../../util/shape.js';

export interface MountArgs {
  /** default: /dev/cdrom, else /dev/sr0 */
  device?: string;
  path: string;
  /** default true */
  readonly?: boolean;
  fstype?: string;
  become?: boolean;
}

type Decision = { kind: 'ok'; summary: string } | { kind: 'change'; summary: string; device: string } | { kind: 'fail'; reason: string };

/** Pure: what to do, given the probe. */
export function decideMount(p: MountProbe, path: string): Decision {
  if (p.mountedSource !== null) {
    if (p.mountedSource === p.deviceReal) return { kind: 'ok', summary: `${p.device} is already mounted on ${path}` };
    return { kind: 'fail', reason: `${path} is in use: ${p.mountedSource} is mounted there` };
  }
  if (!p.deviceExists) return { kind: 'fail', reason: `device ${p.device} does not exist on the guest` };
  if (p.pointExists && !p.pointIsDir) return { kind: 'fail', reason: `${path} exists and is not a directory` };
  if (p.pointIsDir && !p.pointEmpty) return { kind: 'fail', reason: `${path} is not empty; refusing to mount over its contents` };
  return { kind: 'change', summary: `mount ${p.device} on ${path}`, device: p.device };
}

async function look(ctx: Parameters<typeof probe>[0], a: MountArgs) {
  const out = await probe(ctx, mountProbeCommand(a.device, a.path), { become: a.become === true });
  return out.ok ? { ok: true as const, value: parseMountProbe(out.value, a.path) } : out;
}

export interface MountToken {
  path: string;
  become?: boolean;
}

const isMountToken = shape<MountToken>({ path: 'string', become: { optional: 'boolean' } });

export const mountStep = defineStep<MountArgs, unknown, MountToken>({
  ...mountInfo, // type, description, schema, shorthand, flags: src/steps/catalog.ts
  undoToken: isMountToken,

  async plan(ctx, a) {
    const p = await look(ctx, a);
    if (!p.ok) return planFail(p.error);
    const d = decideMount(p.value, a.path);
    if (d.kind === 'change') return { kind: 'change', summary: `would ${d.summary}${a.readonly === false ? '' : ' (read-only)'}` };
    return d;
  },

  async apply(ctx, a) {
    const p = await look(ctx, a);
    if (!p.ok) return applyFail(p.error);
    const d = decideMount(p.value, a.path);
    if (d.kind === 'fail') return { kind: 'failed', reason: d.reason };
    if (d.kind === 'ok') return { kind: 'ok', summary: d.summary };
    const opts = [a.readonly === false ? 'rw' : 'ro'];
    const cmd = `mkdir -p ${quoteShell(a.path)} && mount -o ${opts.join(',')}` +
      `${a.fstype ? ` -t ${quoteShell(a.fstype)}` : ''} ${quoteShell(d.device)} ${quoteShell(a.path)}`;
    await ctx.intent({ action: 'mount', detail: { device: d.device, path: a.path } });
    let r = await run(ctx, cmd, { become: a.become === true, timeoutMs: 120_000 });
    // A CD inserted a moment ago (attach-iso): a real guest kernel may not have taken the new
    // medium yet, and the first mount fails ("no medium found", "wrong fs type, bad superblock
    // on /dev/sr0"). Seen on a real Debian 12 kernel in the lab's QEMU guests (issue 15,
    // docs/lab.md); the container guests never showed it. Retried for up to 30 s.
    for (let i = 0; i < 10 && r.ok && r.value.exitCode !== 0 && CD_CANDIDATES.includes(d.device)
      && /no medium found|wrong fs type|medium not present/i.test(r.value.stderr + r.value.stdout); i++) {
      await new Promise((res) => setTimeout(res, 3000));
      r = await run(ctx, cmd, { become: a.become === true, timeoutMs: 120_000 });
    }
    if (!r.ok) return applyFail(r.error);
    if (r.value.exitCode !== 0) return applyFail(commandFailed(`mount ${d.device} ${a.path}`, r.value));
    return { kind: 'changed', summary: `mounted ${d.device} on ${a.path}`, undo: { path: a.path, become: a.become === true } };
  },

  async undo(ctx, a, token) {
    const t = token;
    const path = t?.path ?? a.path;
    const r = await unmountIfMounted(ctx, path, t?.become ?? a.become === true);
    return r.ok ? { ok: true, summary: r.summary } : { ok: false, reason: failureText(r.failure) };
  },
});

/** Shared by undo() and the unmount step. */
export async function unmountIfMounted(
  ctx: Parameters<typeof probe>[0], path: string, become: boolean,
): Promise<{ ok: true; summary: string; changed: boolean } | { ok: false; failure: StepFailure }> {
  const p = await probe(ctx, mountProbeCommand('/nonexistent-device', path), { become });
  if (!p.ok) return { ok: false, failure: p.error };
  if (parseMountProbe(p.value, path).mountedSource === null) return { ok: true, summary: `${path} is not mounted`, changed: false };
  const r = await run(ctx, `umount ${quoteShell(path)}`, { become, timeoutMs: 120_000 });
  if (!r.ok) return { ok: false, failure: r.error };
  if (r.value.exitCode !== 0) return { ok: false, failure: commandFailed(`umount ${path}`, r.value) };
  return { ok: true, summary: `unmounted ${path}`, changed: true };
}
