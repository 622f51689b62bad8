import type { PowerOp } from '../sim-hooks.js';
import { eventFrom } from './events.js';
import { XapiFault } from './fault.js';
import type { SimModel } from './model.js';
import { FIELDS } from './records.js';
import type { Sessions } from './sessions.js';
import { destroyVdi, destroyVm, ejectCd, insertCd, revertVm, snapshotVm } from './storage-ops.js';
import type { Rec } from './store.js';

export interface CallCtx {
  model: SimModel;
  sessions: Sessions;
  stopping: () => boolean;
  /** the PEM certificate a host serves (the server knows the listeners) */
  serverCertificate?: (hostRef: string) => string;
}

export interface SimMethod {
  /** parameter types as in xenapi.json, the session first */
  params: readonly string[];
  /** changes state: check mode must never call these (the call log marks them) */
  mutating: boolean;
  /** callable as Async.<name> */
  async?: boolean;
  /** trailing parameters a caller may omit (XAPI fills in defaults for params added later) */
  optionalTail?: number;
  handler: (ctx: CallCtx, args: unknown[]) => unknown;
}

const S = 'session ref';
const clean = (r: Rec): Rec => structuredClone(r);

function getters(cls: string, withNameLabel: boolean): Record<string, SimMethod> {
  const out: Record<string, SimMethod> = {};
  const rec = (c: CallCtx, ref: unknown) => c.model.need(cls as 'VM', ref);
  out[`${cls}.get_record`] = { params: [S, `${cls} ref`], mutating: false, handler: (c, [r]) => clean(rec(c, r)) };
  out[`${cls}.get_all`] = { params: [S], mutating: false, handler: (c) => [...c.model.store.table(cls).keys()] };
  out[`${cls}.get_all_records`] = {
    params: [S], mutating: false,
    handler: (c) => Object.fromEntries([...c.model.store.table(cls)].map(([k, v]) => [k, clean(v)])),
  };
  out[`${cls}.get_by_uuid`] = {
    params: [S, 'string'], mutating: false,
    handler: (c, [u]) => {
      const ref = c.model.store.byUuid(cls, String(u));
      if (!ref) throw new XapiFault('UUID_INVALID', [cls, String(u)]);
      return ref;
    },
  };
  if (withNameLabel) {
    out[`${cls}.get_by_name_label`] = {
      params: [S, 'string'], mutating: false,
      handler: (c, [l]) => [...c.model.store.table(cls)].filter(([, v]) => v.name_label === l).map(([k]) => k),
    };
  }
  for (const f of FIELDS[cls] ?? []) {
    out[`${cls}.get_${f}`] = { params: [S, `${cls} ref`], mutating: false, handler: (c, [r]) => structuredClone(rec(c, r)[f]) };
  }
  return out;
}

/**
 * `<cls>.add_to_other_config` refuses a key already there: xen-api (XA 003ea4c7)
 * ocaml/database/db_cache_impl.ml `process_structured_field_locked` (AddMap/AddMapLegacy:
 * `add_to_map` raises Duplicate → `Duplicate_key (tblname, fld, objref, key)`), which reaches the
 * caller as MAP_DUPLICATE_KEY [type; param_name; uuid; key] (ocaml/idl/datamodel_errors.ml).
 * The pool master uses the legacy add (db_cache_impl.ml's comment), which refuses even the same
 * value; the idempotent add (ocaml/database/db_cache_types.ml `add_to_map ~idempotent`) only a
 * different one — pvrun's rollout claims use a value unique to the claimant and read it back,
 * so they hold either way. `pool` added for the rollout markers (src/shard/coordinator.ts).
 */
function otherConfig(cls: 'VM' | 'VDI' | 'pool'): Record<string, SimMethod> {
  return {
    [`${cls}.add_to_other_config`]: {
      params: [S, `${cls} ref`, 'string', 'string'], mutating: true,
      handler: (c, [r, k, v]) => {
        const rec = c.model.need(cls, r);
        const oc = { ...(rec.other_config as Record<string, string>) };
        if (String(k) in oc) throw new XapiFault('MAP_DUPLICATE_KEY', [cls, 'other_config', String(r), String(k)]);
        oc[String(k)] = String(v);
        c.model.store.mod(cls, String(r), { other_config: oc });
        return '';
      },
    },
    [`${cls}.set_other_config`]: {
      params: [S, `${cls} ref`, '(string -> string) map'], mutating: true,
      handler: (c, [r, m]) => {
        c.model.need(cls, r);
        if (typeof m !== 'object' || m === null || Array.isArray(m)) throw new XapiFault('FIELD_TYPE_ERROR', ['value']);
        c.model.store.mod(cls, String(r), { other_config: Object.fromEntries(Object.entries(m).map(([k, v]) => [k, String(v)])) });
        return '';
      },
    },
    [`${cls}.remove_from_other_config`]: {
      params: [S, `${cls} ref`, 'string'], mutating: true,
      handler: (c, [r, k]) => {
        const rec = c.model.need(cls, r);
        const oc = { ...(rec.other_config as Record<string, string>) };
        delete oc[String(k)];
        c.model.store.mod(cls, String(r), { other_config: oc });
        return '';
      },
    },
  };
}

const power = (op: PowerOp): SimMethod => ({
  params: op === 'start' ? [S, 'VM ref', 'bool', 'bool'] : [S, 'VM ref'],
  mutating: true,
  async: true,
  handler: async (c, [vm]) => {
    c.model.need('VM', vm);
    c.model.assertCleanAllowed(String(vm), op);
    await c.model.powerOp(String(vm), op);
    return '';
  },
});

/** Everything the simulator answers. Checked against xenapi.json by test/hypervisor/sim-conformance.test.ts. */
export const SIM_METHODS: Readonly<Record<string, SimMethod>> = {
  // session.* are handled by the server (they need the connection's host), listed here for the table
  'session.login_with_password': { params: ['string', 'string', 'string', 'string'], mutating: false, handler: () => undefined },
  'session.logout': { params: [S], mutating: false, handler: () => undefined },
  'event.from': {
    params: [S, 'string set', 'string', 'float'], mutating: false,
    handler: (c, [classes, token, timeout]) => eventFrom(c.model.store, classes, token, timeout, c.stopping),
  },
  'event.get_current_id': { params: [S], mutating: false, handler: (c) => c.model.store.currentId },

  ...getters('pool', false),
  ...getters('host', true),
  // XA ocaml/idl/datamodel_host.ml get_server_certificate: the host's xapi-ssl.pem certificate
  'host.get_server_certificate': {
    params: [S, 'host ref'], mutating: false,
    handler: (c, [h]) => { c.model.need('host', h); return c.serverCertificate?.(String(h)) ?? ''; },
  },
  ...getters('Certificate', false),
  ...getters('VM', true),
  ...getters('VM_metrics', false),
  ...getters('VM_guest_metrics', false),
  ...getters('VBD', false),
  ...getters('VDI', true),
  ...getters('SR', true),
  ...getters('task', true),

  'VM.start': power('start'),
  'VM.clean_reboot': power('clean_reboot'),
  'VM.hard_reboot': power('hard_reboot'),
  'VM.clean_shutdown': power('clean_shutdown'),
  'VM.hard_shutdown': power('hard_shutdown'),
  'VM.snapshot': {
    params: [S, 'VM ref', 'string', 'VDI ref set'], mutating: true, async: true, optionalTail: 1,
    handler: (c, [vm, name, ignore]) => snapshotVm(c.model, String(vm), String(name), Array.isArray(ignore) ? ignore.map(String) : []),
  },
  'VM.revert': {
    params: [S, 'VM ref'], mutating: true, async: true,
    handler: async (c, [snap]) => { await revertVm(c.model, String(snap)); return ''; },
  },
  'VM.destroy': {
    params: [S, 'VM ref'], mutating: true, async: true,
    handler: async (c, [vm]) => { await destroyVm(c.model, String(vm)); return ''; },
  },
  'VM.set_has_vendor_device': {
    params: [S, 'VM ref', 'bool'], mutating: true, async: true,
    handler: (c, [vm, v]) => { c.model.setHasVendorDevice(String(vm), v === true); return ''; },
  },
  'VM.set_name_description': {
    params: [S, 'VM ref', 'string'], mutating: true,
    handler: (c, [vm, v]) => { c.model.need('VM', vm); c.model.store.mod('VM', String(vm), { name_description: String(v) }); return ''; },
  },
  ...otherConfig('VM'),
  ...otherConfig('VDI'),
  ...otherConfig('pool'),

  'VBD.insert': {
    params: [S, 'VBD ref', 'VDI ref'], mutating: true, async: true,
    handler: async (c, [vbd, vdi]) => { await insertCd(c.model, String(vbd), String(vdi)); return ''; },
  },
  'VBD.eject': {
    params: [S, 'VBD ref'], mutating: true, async: true,
    handler: async (c, [vbd]) => { await ejectCd(c.model, String(vbd)); return ''; },
  },
  'VDI.destroy': {
    params: [S, 'VDI ref'], mutating: true, async: true,
    handler: (c, [vdi]) => { destroyVdi(c.model, String(vdi)); return ''; },
  },

  'task.destroy': {
    params: [S, 'task ref'], mutating: true,
    handler: (c, [t]) => { c.model.need('task', t); c.model.store.del('task', String(t)); return ''; },
  },
  'task.cancel': {
    params: [S, 'task ref'], mutating: true,
    handler: (c, [t]) => {
      const r = c.model.need('task', t);
      if (r.status === 'pending') c.model.store.mod('task', String(t), { status: 'cancelling' });
      return '';
    },
  },
};
