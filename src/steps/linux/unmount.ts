/** unmount: take whatever is mounted on a path off it; nothing mounted there is "ok". */
import { unmountInfo } from '../catalog.js';
import { defineStep } from '../types.js';
import { applyFail, planFail, probe } from './common.js';
import { unmountIfMounted } from './mount.js';
import { mountProbeCommand, parseMountProbe } from './mounts.js';

export interface UnmountArgs {
  path: string;
  become?: boolean;
}

export const unmountStep = defineStep<UnmountArgs>({
  ...unmountInfo, // type, description, schema, shorthand, flags: src/steps/catalog.ts

  async plan(ctx, a) {
    const p = await probe(ctx, mountProbeCommand('/nonexistent-device', a.path), { become: a.become === true });
    if (!p.ok) return planFail(p.error);
    const src = parseMountProbe(p.value, a.path).mountedSource;
    return src === null ? { kind: 'ok', summary: `${a.path} is not mounted` } : { kind: 'change', summary: `would unmount ${src} from ${a.path}` };
  },

  async apply(ctx, a) {
    const r = await unmountIfMounted(ctx, a.path, a.become === true);
    if (!r.ok) return applyFail(r.failure);
    return { kind: r.changed ? 'changed' : 'ok', summary: r.summary };
  },
});
