import type { HypervisorFailure, XapiErrorValue } from '../types.js';

/**
 * What the parameters of common XAPI error codes mean, so a user sees
 * `VM_BAD_POWER_STATE: vm=OpaqueRef:…, expected=halted, actual=running` instead of a bare list.
 */
const PARAM_NAMES: Record<string, { params: string[]; text: string }> = {
  // expected: every allowed state, ", "-joined (XA xapi_vm_lifecycle.ml:286-295)
  VM_BAD_POWER_STATE: { params: ['vm', 'expected', 'actual'], text: 'the VM is not in the power state this operation needs' },
  HANDLE_INVALID: { params: ['class', 'handle'], text: 'the object does not exist (any more)' },
  UUID_INVALID: { params: ['class', 'uuid'], text: 'no object has this uuid' },
  SESSION_INVALID: { params: ['session'], text: 'the session expired or was logged out' },
  SESSION_AUTHENTICATION_FAILED: { params: ['user', 'reason'], text: 'wrong user name or password' },
  HOST_IS_SLAVE: { params: ['master_address'], text: 'this host is a pool member; log in to the pool master' },
  OPERATION_NOT_ALLOWED: { params: ['reason'], text: 'XAPI does not allow this operation now' },
  // ["VM"; ref; op; op_ref] (FIDELITY.md, XA xapi_vm_lifecycle.ml report_concurrent_operations_error)
  OTHER_OPERATION_IN_PROGRESS: { params: ['class', 'object', 'operation', 'operation_ref'], text: 'another operation on the object is running' },
  VM_LACKS_FEATURE: { params: ['vm'], text: 'the guest lacks the feature (no PV drivers / agent); use a hard operation' },
  VM_IS_TEMPLATE: { params: ['vm'], text: 'the operation is not valid for a template' },
  // raised as [snapshot; vm] (XA xapi_vm_snapshot.ml revert / create_vm_from_snapshot)
  VM_REVERT_FAILED: { params: ['snapshot', 'vm'], text: 'reverting the VM to the snapshot failed' },
  REVERT_ONLY_ALLOWED_ON_SNAPSHOT: { params: [], text: 'only a snapshot can be reverted to' },
  VM_IS_SNAPSHOT: { params: ['vm', 'operation'], text: 'the operation is not valid for a snapshot' },
  SR_FULL: { params: ['requested', 'maximum'], text: 'the storage repository is full' },
  SR_OPERATION_NOT_SUPPORTED: { params: ['sr'], text: 'the storage repository does not support this operation' },
  VBD_NOT_EMPTY: { params: ['vbd'], text: 'the CD drive already holds a disc' },
  VBD_IS_EMPTY: { params: ['vbd'], text: 'the CD drive is empty' },
  VBD_NOT_REMOVABLE_MEDIA: { params: ['vbd'], text: 'the drive is not a CD drive' },
  VDI_IN_USE: { params: ['vdi', 'operation'], text: 'the disk is in use' },
  VDI_MISSING: { params: ['sr', 'vdi'], text: 'the disk image is missing from its storage repository' },
  MESSAGE_METHOD_UNKNOWN: { params: ['method'], text: 'XAPI does not know this method' },
  MESSAGE_PARAMETER_COUNT_MISMATCH: { params: ['method', 'expected', 'received'], text: 'wrong number of parameters' },
  EVENTS_LOST: { params: [], text: 'events were lost; start again from a fresh token' },
  TASK_CANCELLED: { params: ['task'], text: 'the task was cancelled' },
  INTERNAL_ERROR: { params: ['message'], text: 'XAPI internal error' },
};

export function xapiError(code: string, params: string[]): XapiErrorValue {
  const known = PARAM_NAMES[code];
  let detail: string;
  if (known) {
    const parts = params.map((p, i) => `${known.params[i] ?? `param${i + 1}`}=${p}`);
    detail = `${known.text}${parts.length ? ` (${parts.join(', ')})` : ''}`;
  } else {
    detail = params.length ? params.join(', ') : 'no details';
  }
  return { kind: 'xapi', code, params, message: `${code}: ${detail}` };
}

/** JSON-RPC error object from XAPI: `{code:1, message:"HANDLE_INVALID", data:["VM","OpaqueRef:…"]}`. */
export function fromJsonRpcError(e: unknown): XapiErrorValue {
  if (typeof e === 'object' && e !== null) {
    const o = e as { message?: unknown; data?: unknown };
    // not an XAPI error (xen-api's rpc_error vector: code "abcd", message a number): say what came
    if (typeof o.message !== 'string') return xapiError('UNKNOWN_ERROR', [`malformed JSON-RPC error: ${JSON.stringify(e)}`]);
    const str = (x: unknown) => (typeof x === 'string' ? x : JSON.stringify(x));
    // `data` is the parameter list; a single parameter may come bare (xen-api's xapi_error vector:
    // "data": "OpaqueRef:…"), which is one parameter, not none
    const data = Array.isArray(o.data) ? o.data.map(str) : o.data === undefined || o.data === null ? [] : [str(o.data)];
    return xapiError(o.message, data);
  }
  return xapiError('UNKNOWN_ERROR', [String(e)]);
}

export function isXapiCode(f: HypervisorFailure, code: string): boolean {
  return f.kind === 'xapi' && f.code === code;
}

/** One line for users, whatever the failure kind. */
export function describeFailure(f: HypervisorFailure): string {
  return f.message;
}
