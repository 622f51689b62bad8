/**
 * The step catalog: every built-in step type's playbook key, description, argument schema,
 * shorthand, template contexts and flags (needs, makesRestorePoint, touchesGuest,
 * resumeCutApply), and the `check:`/`verify:` predicates' keys and schemas — without the step
 * implementations. The loader, `pvrun validate`, `pvrun schema` and the schema generator read
 * this; only a run imports the implementations (src/steps/registry.ts), whose step objects
 * spread these infos, so the two cannot disagree (test/steps/catalog.test.ts). Start-up, issue 17:
 * validating a playbook loads no connector, hypervisor or step implementation module.
 *
 * This module imports no implementation at run time (only types; test/cli/lazy-load.test.ts).
 */
import { DURATION_SCHEMA } from '../load/duration.js';
import type { CheckPredicate } from './predicate-types.js';
import type { JsonSchema, StepType, TemplateContext } from './types.js';
import type { RebootArgs } from './reboot.js';
import type { AttachIsoArgs } from './vm/attach-iso.js';
import type { DetachIsoArgs } from './vm/detach-iso.js';
import type { SnapshotPruneArgs } from './vm/snapshot-prune.js';
import type { SnapshotArgs } from './vm/snapshot.js';
import type { VmSettingArgs } from './vm/vm-setting.js';
import type { MountArgs } from './linux/mount.js';
import type { PackageArgs } from './linux/package.js';
import type { RunScriptArgs } from './linux/run-script.js';
import type { ServiceArgs } from './linux/service.js';
import type { UnmountArgs } from './linux/unmount.js';
import type { CitrixCleanupArgs } from './windows/citrix-cleanup.js';
import type { MsiInstallArgs } from './windows/msi-install.js';
import type { NicMigrateArgs } from './windows/nic-migrate.js';
import type { PowerShellArgs } from './windows/powershell.js';
import type { PreconditionsArgs } from './windows/preconditions.js';
import type { ToolsSourceArgs } from './windows/tools-source.js';
import type { WindowsRebootArgs } from './windows/windows-reboot.js';

/** A step type without its plan/apply/undo: what loading and schema generation need. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type StepInfo<A = any> = Omit<StepType<A>, 'plan' | 'apply' | 'undo' | 'dropRestorePoint'>;
/** A `check:`/`verify:` predicate without its evaluate(). */
export type PredicateInfo = Omit<CheckPredicate, 'evaluate'>;

/** The step types a playbook may use, as the loader sees them (StepRegistry is one too). */
export interface StepCatalog {
  steps: Map<string, StepInfo>;
  /**
   * The catalog pvrun ships (builtinCatalog, builtinRegistry): its schemas are the ones the build
   * generated the bundled validators from, so the bundle takes those without rebuilding the
   * schemas to compare (src/load/validators.ts, bundledBuiltin).
   */
  readonly builtin?: true;
}

export function stepInfo<A>(info: StepInfo<A>): StepInfo<A> {
  return info;
}

// ── schema parts shared with the implementations (re-exported from there) ───────────────────────

/**
 * A name pattern that lets a string holding a template through: the loader checks the name again
 * after rendering (src/load/project.ts), and a name from a run-time template is checked by the step.
 */
export function withTemplates(pattern: string): string {
  return `^(?:${pattern.replace(/^\^|\$$/g, '')}|.*\\{\\{.*)$`;
}

export const becomeSchema: JsonSchema = { type: 'boolean', description: 'run as root through sudo' };
export const envSchema: JsonSchema = {
  type: 'object',
  propertyNames: { pattern: '^[A-Za-z_][A-Za-z0-9_]*$' },
  additionalProperties: { type: 'string' },
};

export const PACKAGE_NAME_PATTERN = '^[A-Za-z0-9_][A-Za-z0-9._+-]*(:[a-z0-9-]+)?$';
export const PACKAGE_NAME_DESCRIPTION = 'a package name (a letter, digit or _ first, then letters, digits and . _ + -)';
export const SERVICE_NAME_PATTERN = '^[A-Za-z0-9_@:][A-Za-z0-9_@:.-]*$';
export const SERVICE_NAME_DESCRIPTION = 'a service name (letters, digits and _ @ : . -, not starting with . or -)';

// literal names are checked at load (a located error); names from run-time templates by the step
const onePackageName = { type: 'string', pattern: withTemplates(PACKAGE_NAME_PATTERN), description: PACKAGE_NAME_DESCRIPTION };
const packageNameSchema = { oneOf: [onePackageName, { type: 'array', items: onePackageName, minItems: 1 }] };
const oneServiceName = { type: 'string', pattern: withTemplates(SERVICE_NAME_PATTERN), description: SERVICE_NAME_DESCRIPTION };

/** msi-install: installer exit codes that mean success (3010, 1641: a reboot is needed) */
export const DEFAULT_OK_CODES = [0, 3010, 1641];

/** interpreters that take `-c SCRIPT NAME ARGS…` the POSIX way */
export const SHELLS = /^(\/(usr\/)?bin\/)?(sh|bash|dash|ksh|zsh)$/;

/** interpreters whose scripts are shell code (templates in them are shell-quoted) */
export function isShellInterpreter(interp: string | undefined): boolean {
  return interp === undefined || SHELLS.test(interp.trim());
}

// ── step types ───────────────────────────────────────────────────────────────────────────────────

export const rebootInfo = stepInfo<RebootArgs>({
  type: 'reboot',
  resumeCutApply: 'again',
  description: 'Reboot the guest (from inside, or through the hypervisor) and wait until it is back',
  needs: 'guest',
  touchesGuest: true,
  schema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      via: { enum: ['guest', 'hypervisor'], default: 'guest' },
      reboot_timeout: { type: 'number', exclusiveMinimum: 0, default: 600 },
      test_command: { type: 'string' },
      reboot_command: { type: 'string' },
      when_required: { type: 'boolean' },
      mode: { enum: ['auto', 'clean', 'hard'] },
      become: { type: 'boolean' },
    },
  },
  shorthand: (v) => (v === 'guest' || v === 'hypervisor' ? { via: v } : {}),
  // both run as shell commands on the guest: their templates are quoted (src/load/template.ts)
  templateContexts: (args) => (typeof args === 'object' && args !== null
    ? (['test_command', 'reboot_command'] as const).filter((k) => typeof (args as Record<string, unknown>)[k] === 'string').map((k) => ({ at: [k], kind: 'command' as const }))
    : []),
});

export const attachIsoInfo = stepInfo<AttachIsoArgs>({
  type: 'attach-iso',
  description: "Insert an ISO (default: the pool's guest tools ISO) into the VM's CD drive; undo ejects it",
  needs: 'vm',
  touchesGuest: false,
  schema: {
    type: 'object',
    additionalProperties: false,
    properties: { iso: { type: 'string', minLength: 1 }, replace: { type: 'boolean' } },
  },
  shorthand: (v) => (typeof v === 'string' ? { iso: v } : {}),
});

export const detachIsoInfo = stepInfo<DetachIsoArgs>({
  type: 'detach-iso',
  description: "Eject whatever ISO is in the VM's CD drive (an empty drive, or none, is fine)",
  needs: 'vm',
  touchesGuest: false,
  schema: { type: 'object', additionalProperties: false, properties: {} },
  shorthand: () => ({}),
});

export const snapshotPruneInfo = stepInfo<SnapshotPruneArgs>({
  type: 'snapshot-prune',
  description: "Delete pvrun's expired snapshots of the VM (keep: false / past their keep duration) and their disks, never an ISO",
  needs: 'vm',
  schema: { type: 'object', additionalProperties: false, properties: { include_current_run: { type: 'boolean' } } },
  shorthand: () => ({}),
});

export const snapshotInfo = stepInfo<SnapshotArgs>({
  type: 'snapshot',
  description: 'Snapshot the VM (crash-consistent) as a restore point; undo reverts to it and restores the power state',
  needs: 'vm',
  makesRestorePoint: true,
  touchesGuest: false,
  schema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      name: { type: 'string', minLength: 1 },
      keep: { anyOf: [{ type: 'boolean' }, DURATION_SCHEMA] },
      timeout: DURATION_SCHEMA,
    },
  },
  shorthand: (v) => (typeof v === 'string' ? { name: v } : {}),
});

export const vmSettingInfo = stepInfo<VmSettingArgs>({
  type: 'vm-setting',
  description: 'Change a VM setting that needs the VM halted: windows_update_drivers (has_vendor_device)',
  needs: 'vm',
  schema: {
    type: 'object',
    additionalProperties: false,
    required: ['windows_update_drivers'],
    properties: {
      windows_update_drivers: { type: 'boolean' },
      shutdown_timeout: DURATION_SCHEMA,
      timeout: DURATION_SCHEMA,
    },
  },
});

export const mountInfo = stepInfo<MountArgs>({
  type: 'mount',
  description: 'Mount a device (default: the CD drive) on an empty mount point',
  needs: 'guest',
  touchesGuest: true,
  schema: {
    type: 'object',
    additionalProperties: false,
    required: ['path'],
    properties: {
      device: { type: 'string' },
      path: { type: 'string', pattern: '^/' },
      readonly: { type: 'boolean', default: true },
      fstype: { type: 'string' },
      become: becomeSchema,
    },
  },
});

export const packageInfo = stepInfo<PackageArgs>({
  type: 'package',
  description: 'Install or remove packages with the guest\'s package manager',
  needs: 'guest',
  touchesGuest: true,
  schema: {
    type: 'object',
    additionalProperties: false,
    required: ['name'],
    properties: {
      name: {
        oneOf: [
          ...packageNameSchema.oneOf,
          {
            type: 'object',
            additionalProperties: false,
            minProperties: 1,
            properties: Object.fromEntries(['redhat', 'debian', 'suse', 'alpine', 'default'].map((k) => [k, packageNameSchema])),
          },
        ],
      },
      state: { enum: ['present', 'absent'], default: 'present' },
      enable_repo: { enum: ['epel'] },
      update_cache: { type: 'boolean' },
      become: becomeSchema,
      timeout: { type: 'number', exclusiveMinimum: 0 },
    },
  },
  shorthand: (v) => ({ name: String(v) }),
});

export const runScriptInfo = stepInfo<RunScriptArgs>({
  type: 'run-script',
  description: 'Run an inline script or an uploaded local file on the guest',
  needs: 'guest',
  touchesGuest: true,
  schema: {
    type: 'object',
    additionalProperties: false,
    oneOf: [{ required: ['script'] }, { required: ['file'] }],
    properties: {
      script: { type: 'string' },
      file: { type: 'string' },
      interpreter: { type: 'string', default: '/bin/sh' },
      args: { type: 'array', items: { type: 'string' } },
      env: envSchema,
      become: becomeSchema,
      timeout: { type: 'number', exclusiveMinimum: 0 },
      ok_codes: { type: 'array', items: { type: 'integer' }, default: [0] },
      creates: { type: 'string' },
      unless: {
        description: "a command; when it exits 0 the script is not needed. Check mode does not run it (the step is 'unknown') unless it is { cmd, check_mode_safe: true }",
        oneOf: [
          { type: 'string' },
          {
            type: 'object', additionalProperties: false, required: ['cmd'],
            properties: {
              cmd: { type: 'string' },
              check_mode_safe: { type: 'boolean', description: 'the command changes nothing: run it in check mode too (reported in the step summary)' },
            },
          },
        ],
      },
      remote_tmp: { type: 'string', pattern: '^/' },
    },
  },
  shorthand: (v) => ({ script: String(v) }),
  templateContexts(args): TemplateContext[] {
    if (typeof args !== 'object' || args === null) return [];
    const a = args as RunScriptArgs;
    const out: TemplateContext[] = [];
    if (typeof a.script === 'string') {
      out.push(isShellInterpreter(a.interpreter) ? { at: ['script'], kind: 'sh' } : { at: ['script'], kind: 'code', interpreter: a.interpreter! });
    }
    if (typeof a.unless === 'string') out.push({ at: ['unless'], kind: 'command' });
    else if (typeof a.unless === 'object' && a.unless !== null) out.push({ at: ['unless', 'cmd'], kind: 'command' });
    return out;
  },
});

export const serviceInfo = stepInfo<ServiceArgs>({
  type: 'service',
  description: 'Enable and/or start or stop a service (first existing of several candidate names)',
  needs: 'guest',
  touchesGuest: true,
  schema: {
    type: 'object',
    additionalProperties: false,
    required: ['name'],
    anyOf: [{ required: ['enabled'] }, { required: ['state'] }],
    properties: {
      name: { oneOf: [oneServiceName, { type: 'array', items: oneServiceName, minItems: 1 }] },
      enabled: { type: 'boolean' },
      state: { enum: ['started', 'stopped', 'restarted'] },
      become: becomeSchema,
    },
  },
});

export const unmountInfo = stepInfo<UnmountArgs>({
  type: 'unmount',
  description: 'Unmount a mount point',
  needs: 'guest',
  touchesGuest: true,
  schema: {
    type: 'object',
    additionalProperties: false,
    required: ['path'],
    properties: { path: { type: 'string', pattern: '^/' }, become: becomeSchema },
  },
  shorthand: (v) => ({ path: String(v) }),
});

export const citrixCleanupInfo = stepInfo<CitrixCleanupArgs>({
  type: 'citrix-cleanup',
  description: "Remove Citrix/XenServer PV drivers and agents with the release's XenClean (-noConfirm -noReboot; exit 3: reboot and run again)",
  needs: 'guest',
  touchesGuest: true,
  schema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      path: { type: 'string', minLength: 1, description: "XenClean.exe on the guest (default: package\\XenClean\\XenClean.exe of the release windows-tools-source found)" },
      timeout: { type: 'number', exclusiveMinimum: 0, description: 'seconds for each XenClean run (default 900)' },
      reboot_timeout: { type: 'number', exclusiveMinimum: 0, description: 'seconds for the reboot XenClean asks for with exit 3 (default 1800)' },
    },
  },
  shorthand: (v) => (v === null || v === true ? {} : { path: String(v) }),
});

export const msiInstallInfo = stepInfo<MsiInstallArgs>({
  type: 'msi-install',
  description: 'Install a Windows Installer package silently (msiexec /qn /norestart) with installer exit codes',
  needs: 'guest',
  touchesGuest: true,
  schema: {
    type: 'object',
    additionalProperties: false,
    oneOf: [{ required: ['path'] }, { required: ['release'] }],
    properties: {
      path: { type: 'string', minLength: 1 },
      release: { const: true, description: 'install the one MSI of the XCP-ng Windows tools release found by windows-tools-source (idempotent on both product names)' },
      properties: { type: 'object', propertyNames: { pattern: '^[A-Za-z_][A-Za-z0-9_.]*$' }, additionalProperties: { type: 'string' } },
      log: { type: 'string' },
      ok_codes: { type: 'array', items: { type: 'integer' }, default: DEFAULT_OK_CODES },
      product: { oneOf: [{ type: 'string' }, { type: 'array', items: { type: 'string' }, minItems: 1 }], description: 'installed-products name (substring, case-insensitive), or a list of names: when one is present, nothing to do' },
      version: { type: 'string' },
      timeout: { type: 'number', exclusiveMinimum: 0 },
    },
  },
  shorthand: (v) => ({ path: String(v) }),
});

export const nicMigrateInfo = stepInfo<NicMigrateArgs>({
  type: 'nic-migrate',
  description: 'Capture static NIC settings per MAC before a NIC driver change; restore them on the new PV adapter and remove hidden (ghost) adapters after it',
  needs: 'guest',
  touchesGuest: true,
  schema: {
    type: 'object',
    additionalProperties: false,
    required: ['action'],
    properties: {
      action: { enum: ['capture', 'restore'] },
      macs: { type: 'array', items: { type: 'string', pattern: '^[0-9A-Fa-f]{2}([-:]?[0-9A-Fa-f]{2}){5}$' } },
      remove_ghosts: { type: 'boolean', default: true },
      captured: { type: 'array', items: { type: 'object' } },
    },
  },
  shorthand: (v) => ({ action: v === 'restore' ? 'restore' : 'capture' }),
});

export const powershellInfo = stepInfo<PowerShellArgs>({
  type: 'powershell',
  description: "Run PowerShell on a Windows guest, inline or a local file (Ansible's win_shell): creates/unless guards, ok codes, register; check mode runs it only when read_only",
  needs: 'guest',
  touchesGuest: true,
  schema: {
    type: 'object',
    additionalProperties: false,
    oneOf: [{ required: ['script'] }, { required: ['file'] }],
    properties: {
      script: { type: 'string', description: 'inline PowerShell' },
      file: { type: 'string', description: 'a local .ps1 (relative to the playbook or a script_roots directory), run on the guest' },
      creates: { type: 'string', description: 'a path on the guest: when it exists the script is not needed (ok, not run)' },
      unless: {
        description: "PowerShell; when it exits 0 the script is not needed. Check mode does not run it (the step is 'unknown') unless it is { cmd, check_mode_safe: true }",
        oneOf: [
          { type: 'string' },
          {
            type: 'object', additionalProperties: false, required: ['cmd'],
            properties: { cmd: { type: 'string', description: 'the PowerShell guard' }, check_mode_safe: { type: 'boolean', description: 'the command changes nothing: run it in check mode too' } },
          },
        ],
      },
      ok_codes: { type: 'array', items: { type: 'integer' }, default: [0], description: 'exit codes that count as success (default [0])' },
      timeout: { type: 'number', exclusiveMinimum: 0, description: 'seconds the script may run (default 1800)' },
      read_only: { type: 'boolean', description: 'the script changes nothing: check mode runs it, and a real run reports ok rather than changed' },
    },
  },
  shorthand: (v) => ({ script: String(v) }),
  templateContexts(args): TemplateContext[] {
    if (typeof args !== 'object' || args === null) return [];
    const a = args as PowerShellArgs;
    const out: TemplateContext[] = [];
    if (typeof a.script === 'string') out.push({ at: ['script'], kind: 'command' });
    if (typeof a.unless === 'string') out.push({ at: ['unless'], kind: 'command' });
    else if (typeof a.unless === 'object' && a.unless !== null) out.push({ at: ['unless', 'cmd'], kind: 'command' });
    return out;
  },
});

export const windowsPreconditionsInfo = stepInfo<PreconditionsArgs>({
  type: 'windows-tools-preconditions',
  description: 'Check, before anything changes, what the XCP-ng Windows tools MSI requires: Windows >= 10.0.14393, .NET >= 4.6.2, no vendor device, no Citrix drivers',
  needs: 'both',
  touchesGuest: false,
  schema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      vendor_device: {
        oneOf: [{ enum: ['fix', 'refuse'] }, { type: 'boolean' }],
        description: "the vendor device on: 'fix'/true (a later vm-setting step turns it off; default) or 'refuse'/false (fail here)",
      },
      citrix: { enum: ['refuse', 'migrate'], description: "Citrix drivers present: 'refuse' (default) or 'migrate' (a later citrix-cleanup removes them)" },
    },
  },
});

export const windowsToolsSourceInfo = stepInfo<ToolsSourceArgs>({
  type: 'windows-tools-source',
  description: 'Find the XCP-ng Windows tools release (its one MSI and XenClean) on the inserted ISO, or copy a local release zip/MSI to the guest with a SHA-256 check',
  needs: 'both',
  touchesGuest: true,
  schema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      iso: { type: 'string', description: "the release's ISO in an ISO SR (name or uuid), inserted if it is not in the drive; '' = unset" },
      file: { type: 'string', description: "a release zip or XenTools-x64.msi/XenDrivers-x64.msi on the controller; '' = unset" },
      sha256: { type: 'string', description: "the expected SHA-256 of file; '' = unset" },
      dest: { type: 'string', description: 'folder on the guest for the copy (default: the guest temp folder\\pvrun-windows-tools)' },
    },
  },
});

export const windowsRebootInfo = stepInfo<WindowsRebootArgs>({
  type: 'windows-reboot',
  resumeCutApply: 'again',
  description: 'Reboot a Windows guest and wait until it is back (new LastBootUpTime, ready for logon, test command), with follow-up reboots',
  needs: 'guest',
  touchesGuest: true,
  schema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      reboot_timeout: { type: 'number', exclusiveMinimum: 0, default: 1800 },
      test_command: { type: 'string' },
      when_required: { type: 'boolean' },
      max_followups: { type: 'integer', minimum: 0, default: 2 },
    },
  },
  shorthand: (v) => (v === 'when_required' ? { when_required: true } : {}),
});

// ── check:/verify: predicates ────────────────────────────────────────────────────────────────────

/** VM predicates (src/steps/vm/predicates.ts evaluates them), by key. */
export const vmPredicateInfos = {
  power_state: { key: 'power_state', description: 'VM power state: Running, Halted, Paused or Suspended', needs: 'vm', schema: { enum: ['Running', 'Halted', 'Paused', 'Suspended'] } },
  virtualization_mode: { key: 'virtualization_mode', description: 'as Xen Orchestra shows it: HVM, PVHVM (HVM with PV drivers), PV or PVH', needs: 'vm', schema: { enum: ['HVM', 'PVHVM', 'PV', 'PVH'] } },
  pv_drivers_detected: { key: 'pv_drivers_detected', description: 'the hypervisor sees PV frontends (drivers) in the guest', needs: 'vm', schema: { type: 'boolean' } },
  management_agent_detected: { key: 'management_agent_detected', description: 'the guest agent reports (Xen Orchestra: version major+minor, or static IP feature)', needs: 'vm', schema: { type: 'boolean' } },
  windows_update_drivers: { key: 'windows_update_drivers', description: '"Manage Citrix PV drivers via Windows Update" (VM.has_vendor_device)', needs: 'vm', schema: { type: 'boolean' } },
  pv_drivers_version: { key: 'pv_drivers_version', description: 'guest tools version constraint, e.g. ">= 9.0" (a bare version means at least)', needs: 'vm', schema: { type: 'string', pattern: '^\\s*(>=|<=|==|=|>|<|!=)?\\s*\\d+(\\.\\d+)*\\s*$' } },
} satisfies Record<string, PredicateInfo>;

const serviceNameSchema = { type: 'string', pattern: withTemplates(SERVICE_NAME_PATTERN), description: SERVICE_NAME_DESCRIPTION };

/** Linux guest predicates (src/steps/linux/predicates.ts evaluates them), by key. */
export const linuxPredicateInfos = {
  command: {
    key: 'command',
    description: "a command: exit code (default 0) and optionally stdout containing a string or matching a regex. Check mode does not run it (the step is 'unknown') unless it is { cmd, check_mode_safe: true }",
    needs: 'guest',
    templateContexts: (expected) => (typeof expected === 'string' ? [{ at: [], kind: 'command' }]
      : typeof expected === 'object' && expected !== null ? [{ at: ['cmd'], kind: 'command' }] : []),
    schema: {
      oneOf: [
        { type: 'string' },
        {
          type: 'object', additionalProperties: false, required: ['cmd'],
          properties: {
            cmd: { type: 'string' }, exit_code: { type: 'integer' }, stdout: { type: 'string' },
            stdout_regex: { type: 'string' }, become: { type: 'boolean' },
            check_mode_safe: { type: 'boolean', description: 'the command changes nothing: run it in check mode too (reported in the step summary)' },
          },
        },
      ],
    },
  },
  file_exists: {
    key: 'file_exists',
    description: 'a path exists on the guest (or, with exists: false, does not)',
    needs: 'guest',
    schema: {
      oneOf: [
        { type: 'string' },
        { type: 'object', additionalProperties: false, required: ['path'], properties: { path: { type: 'string' }, exists: { type: 'boolean' }, become: { type: 'boolean' } } },
      ],
    },
  },
  package_installed: {
    key: 'package_installed',
    description: 'a package is installed, optionally with a version constraint ("xe-guest-utilities >= 7.30"); with several names, any one of them',
    needs: 'guest',
    schema: {
      oneOf: [
        { type: 'string' },
        {
          type: 'object', additionalProperties: false, required: ['name'],
          properties: { name: {}, version: { type: 'string' } },
        },
      ],
    },
  },
  service_active: {
    key: 'service_active',
    description: 'a service is running; with a list, the first of the names that exists',
    needs: 'guest',
    schema: { oneOf: [serviceNameSchema, { type: 'array', items: serviceNameSchema, minItems: 1 }] },
  },
} satisfies Record<string, PredicateInfo>;

/** Windows guest predicates (src/steps/windows/predicates.ts evaluates them), by key. */
export const windowsPredicateInfos = {
  pv_drivers_present: {
    key: 'pv_drivers_present',
    description: 'the Xen PV drivers are loaded in the guest (XENBUS\\ and XENVIF\\ devices present); false to require their absence',
    needs: 'guest',
    schema: { type: 'boolean' },
  },
  tools_installed: {
    key: 'tools_installed',
    description: 'an installed product (name substring, case-insensitive; several in a list), optionally with a version constraint: "XCP-ng Windows PV Drivers >= 9.0"; "XCP-ng Windows tools" means either "XCP-ng Windows PV Drivers" (up to v9.0) or "XCP-ng Windows Guest Tools" (from v9.1)',
    needs: 'guest',
    schema: {
      oneOf: [
        { type: 'string' },
        { type: 'object', additionalProperties: false, required: ['product'], properties: { product: { oneOf: [{ type: 'string' }, { type: 'array', items: { type: 'string' }, minItems: 1 }] }, version: { type: 'string' } } },
      ],
    },
  },
  windows_service_running: {
    key: 'windows_service_running',
    description: 'a Windows service is running; with a list, every one of them',
    needs: 'guest',
    schema: { oneOf: [{ type: 'string' }, { type: 'array', items: { type: 'string' }, minItems: 1 }] },
  },
} satisfies Record<string, PredicateInfo>;

/** Every built-in predicate, in the registry's order (vm, linux, windows). */
export const builtinPredicateInfos: PredicateInfo[] = [
  ...Object.values(vmPredicateInfos), ...Object.values(linuxPredicateInfos), ...Object.values(windowsPredicateInfos),
];

export interface CheckArgs {
  otherwise?: 'fail' | 'skip-host';
  /** verify: how long to wait for the predicates (fresh data after a reboot), in seconds */
  timeout?: number;
  /** verify: seconds between evaluations (never under 1s: XAPI and guests are not polled faster) */
  interval?: number;
  [predicate: string]: unknown;
}

function checkSchemaFor(predicates: PredicateInfo[], verify: boolean): Record<string, unknown> {
  const props: Record<string, unknown> = {};
  for (const p of predicates) props[p.key] = { ...p.schema, description: p.description };
  if (verify) {
    props['timeout'] = { type: 'number', minimum: 0, description: 'seconds to wait for the predicates to hold' };
    props['interval'] = { type: 'number', minimum: 1, description: 'seconds between evaluations' };
  } else {
    props['otherwise'] = { enum: ['fail', 'skip-host'], description: 'what a failed check does to the host (default: fail)' };
  }
  return { type: 'object', properties: props, additionalProperties: false, minProperties: 1 };
}

/** The predicates' shell contexts (e.g. `command:`), as paths in the step's arguments. */
function contextsOf(preds: Map<string, PredicateInfo>, args: unknown): TemplateContext[] {
  if (typeof args !== 'object' || args === null || Array.isArray(args)) return [];
  const out: TemplateContext[] = [];
  for (const [key, expected] of Object.entries(args)) {
    const p = preds.get(key);
    for (const c of p?.templateContexts?.(expected) ?? []) out.push({ at: [key, ...c.at], kind: c.kind });
  }
  return out;
}

/** `check:` over these predicates (src/steps/check.ts adds plan/apply). */
export function checkStepInfo(predicates: PredicateInfo[]): StepInfo<CheckArgs> {
  const preds = new Map(predicates.map((p) => [p.key, p]));
  return {
    type: 'check',
    description: 'Assert facts about the VM and the guest; fail the host, or skip it as already done (otherwise: skip-host).',
    schema: checkSchemaFor(predicates, false),
    needs: 'none',
    templateContexts: (args) => contextsOf(preds, args),
  };
}

/** `verify:` over these predicates (src/steps/check.ts adds plan/apply). */
export function verifyStepInfo(predicates: PredicateInfo[]): StepInfo<CheckArgs> {
  const preds = new Map(predicates.map((p) => [p.key, p]));
  return {
    type: 'verify',
    description: 'Wait until facts about the VM and guest hold, trusting only data fresh since the last boot.',
    schema: checkSchemaFor(predicates, true),
    needs: 'none',
    templateContexts: (args) => contextsOf(preds, args),
  };
}

// ── the catalog ──────────────────────────────────────────────────────────────────────────────────

/** The built-in step types in the registry's order (vm, linux, windows, check, verify). */
export const vmStepInfos: StepInfo[] = [snapshotInfo, attachIsoInfo, detachIsoInfo, vmSettingInfo, snapshotPruneInfo];
export const linuxStepInfos: StepInfo[] = [runScriptInfo, mountInfo, unmountInfo, packageInfo, serviceInfo, rebootInfo];
export const windowsStepInfos: StepInfo[] = [
  msiInstallInfo, nicMigrateInfo, citrixCleanupInfo, windowsRebootInfo, windowsToolsSourceInfo, windowsPreconditionsInfo, powershellInfo,
];

let builtin: StepCatalog | undefined;

/** Every step type pvrun ships, without the implementations (src/steps/registry.ts has those). */
export function builtinCatalog(): StepCatalog {
  if (!builtin) {
    const steps = new Map<string, StepInfo>();
    for (const s of [...vmStepInfos, ...linuxStepInfos, ...windowsStepInfos, checkStepInfo(builtinPredicateInfos), verifyStepInfo(builtinPredicateInfos)]) {
      if (steps.has(s.type)) throw new Error(`step type '${s.type}' registered twice`);
      steps.set(s.type, s);
    }
    builtin = { steps, builtin: true };
  }
  return builtin;
}
