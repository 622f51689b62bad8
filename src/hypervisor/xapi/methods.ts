/**
 * The typed method table: every XAPI method the client may call, with its parameter types as
 * xenapi.json spells them (the session parameter included, first). The client refuses methods
 * that are not here and checks parameter counts, so this table is the whole surface pvrun uses;
 * test/hypervisor/conformance.test.ts checks it against xenapi.json.
 *
 * `Async.<class>.<message>` is callable for the entries marked `async: true`; it takes the same
 * parameters and returns a task ref.
 */
export interface MethodSpec {
  params: readonly string[];
  /** may be called as Async.<name> */
  async?: boolean;
  /**
   * trailing parameters that may be left out: added in a later XAPI release (which fills in a
   * default when a client omits them), unknown to older pools (which reject the longer call)
   */
  optionalTail?: number;
}

const S = 'session ref';

function getters(cls: string, fields: readonly string[]): Record<string, MethodSpec> {
  const out: Record<string, MethodSpec> = {
    [`${cls}.get_record`]: { params: [S, `${cls} ref`] },
    [`${cls}.get_all`]: { params: [S] },
    [`${cls}.get_all_records`]: { params: [S] },
    [`${cls}.get_by_uuid`]: { params: [S, 'string'] },
  };
  for (const f of ['uuid', ...fields]) out[`${cls}.get_${f}`] = { params: [S, `${cls} ref`] };
  return out;
}

export const XAPI_METHODS: Readonly<Record<string, MethodSpec>> = {
  'session.login_with_password': { params: ['string', 'string', 'string', 'string'] },
  'session.logout': { params: [S] },
  'event.from': { params: [S, 'string set', 'string', 'float'] },

  ...getters('pool', ['master', 'name_label', 'other_config']),
  // a rollout's shared state (src/shard/coordinator.ts): add refuses a key already there (MAP_DUPLICATE_KEY)
  'pool.add_to_other_config': { params: [S, 'pool ref', 'string', 'string'] },
  'pool.remove_from_other_config': { params: [S, 'pool ref', 'string'] },
  ...getters('host', ['address', 'name_label']),
  'host.get_by_name_label': { params: [S, 'string'] },
  // pinning across the pool (client.ts learnPoolCertificates): each host's own certificate
  'host.get_server_certificate': { params: [S, 'host ref'] },
  ...getters('Certificate', ['type', 'host', 'fingerprint']),

  ...getters('VM', [
    'power_state', 'allowed_operations', 'VBDs', 'snapshots', 'other_config', 'has_vendor_device',
    'guest_metrics', 'metrics', 'domain_type', 'name_label', 'is_a_snapshot', 'snapshot_of', 'tags',
    // a resumed hypervisor reboot: is the killed process's reboot still under way (vm-power.ts rebootSince)
    'current_operations',
  ]),
  'VM.get_by_name_label': { params: [S, 'string'] },
  'VM.start': { params: [S, 'VM ref', 'bool', 'bool'], async: true },
  'VM.clean_reboot': { params: [S, 'VM ref'], async: true },
  'VM.hard_reboot': { params: [S, 'VM ref'], async: true },
  'VM.clean_shutdown': { params: [S, 'VM ref'], async: true },
  'VM.hard_shutdown': { params: [S, 'VM ref'], async: true },
  // ignore_vdis is recent (XAPI 23.x): older pools only know (session, vm, new_name)
  'VM.snapshot': { params: [S, 'VM ref', 'string', 'VDI ref set'], async: true, optionalTail: 1 },
  'VM.revert': { params: [S, 'VM ref'], async: true },
  'VM.destroy': { params: [S, 'VM ref'], async: true },
  'VM.set_has_vendor_device': { params: [S, 'VM ref', 'bool'], async: true },
  'VM.add_to_other_config': { params: [S, 'VM ref', 'string', 'string'] },
  'VM.remove_from_other_config': { params: [S, 'VM ref', 'string'] },
  'VM.set_other_config': { params: [S, 'VM ref', '(string -> string) map'] },
  'VM.set_name_description': { params: [S, 'VM ref', 'string'] },

  ...getters('VM_metrics', ['start_time']),
  ...getters('VM_guest_metrics', ['last_updated', 'PV_drivers_detected', 'PV_drivers_version']),

  ...getters('VBD', ['VDI', 'VM', 'type', 'empty']),
  'VBD.insert': { params: [S, 'VBD ref', 'VDI ref'], async: true },
  'VBD.eject': { params: [S, 'VBD ref'], async: true },

  ...getters('VDI', ['SR', 'name_label', 'is_tools_iso', 'missing']),
  'VDI.get_by_name_label': { params: [S, 'string'] },
  'VDI.destroy': { params: [S, 'VDI ref'], async: true },

  ...getters('SR', ['VDIs', 'is_tools_sr', 'name_label']),
  'SR.get_by_name_label': { params: [S, 'string'] },

  ...getters('task', ['status', 'result', 'error_info', 'progress']),
  'task.destroy': { params: [S, 'task ref'] },
  'task.cancel': { params: [S, 'task ref'] },
};

/** `Async.VM.start` → `VM.start` when that method may be called asynchronously. */
export function lookupMethod(method: string): { spec: MethodSpec; base: string; isAsync: boolean } | undefined {
  if (method.startsWith('Async.')) {
    const base = method.slice('Async.'.length);
    const spec = XAPI_METHODS[base];
    return spec?.async ? { spec, base, isAsync: true } : undefined;
  }
  const spec = XAPI_METHODS[method];
  return spec ? { spec, base: method, isAsync: false } : undefined;
}

/** Methods that take no session parameter. */
export function takesSession(method: string): boolean {
  return method !== 'session.login_with_password';
}

/**
 * Read-only whitelist: what check mode may call. Anything not matching is refused by the client in
 * read-only mode, so a step that forgets to test `ctx.check` still cannot change a VM.
 */
export function isReadOnlyMethod(method: string): boolean {
  if (method.startsWith('Async.')) return false;
  const dot = method.indexOf('.');
  if (dot < 0) return false;
  const cls = method.slice(0, dot);
  const msg = method.slice(dot + 1);
  if (cls === 'session') return msg === 'login_with_password' || msg === 'logout' || msg === 'get_record' || msg === 'get_this_host';
  if (cls === 'event') return msg === 'from' || msg === 'get_current_id';
  // getters of every class: get_record, get_all, get_all_records, get_by_uuid, get_by_name_label, get_<field>
  return msg.startsWith('get_');
}
