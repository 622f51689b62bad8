/**
 * The text of the schema reference: one description (and examples where they help) for every
 * property of the playbook and inventory schemas. This table is the single source:
 *  - src/load/schema.ts puts each entry on its property in the published schemas (schema/*.json,
 *    which editors show on hover and completion);
 *  - docs/schema-reference.md is generated from those schemas (`pvrun schema --write`), and
 *    test/load/schema-descriptions.test.ts fails when it differs, or when any property has no
 *    description.
 *
 * Keys: `<section>.<property>[.<sub-property>…]`, where a section is a titled schema (play, step,
 * predicate, hypervisor, tls, secret, group, filters, host, vm, connection, inventory, playbook)
 * or `steps.<type>` for a step type's arguments. A step type's own schema may carry its own
 * descriptions; an entry here wins, except on a property with a `pattern`, whose own description
 * words that pattern in error messages ("'register' must be a variable name …") and stays.
 */
export interface PropertyDoc {
  description: string;
  examples?: unknown[];
}

const become = { description: 'run the command as root through sudo (with the connection\'s become_password when the guest asks for one)', examples: [true] };
const stepTimeoutSeconds = (what: string, dflt?: string): PropertyDoc => ({ description: `seconds ${what} may take before the step fails${dflt ? ` (default ${dflt})` : ''}` });

// check and verify share their assertions.
const assertions = (verb: 'check' | 'verify'): Record<string, PropertyDoc> => {
  const p = `steps.${verb}`;
  return {
    [`${p}.power_state`]: { description: 'VM power state: Running, Halted, Paused or Suspended', examples: ['Running'] },
    [`${p}.virtualization_mode`]: { description: 'virtualization mode as Xen Orchestra shows it: HVM, PVHVM (HVM with PV drivers), PV or PVH', examples: ['PVHVM'] },
    [`${p}.pv_drivers_detected`]: { description: 'the hypervisor sees PV frontends (drivers) in the guest', examples: [true] },
    [`${p}.management_agent_detected`]: { description: 'the guest agent reports to the hypervisor (Xen Orchestra: version major+minor, or the static IP feature)', examples: [true] },
    [`${p}.windows_update_drivers`]: { description: '"Manage Citrix PV drivers via Windows Update" (VM.has_vendor_device)', examples: [false] },
    [`${p}.pv_drivers_version`]: { description: 'guest tools version constraint (a bare version means at least)', examples: ['>= 9.0', '8.4.0'] },
    [`${p}.command`]: { description: 'a command on the guest: its exit code (default 0) and optionally its stdout. Check mode does not run it (the step is \'unknown\') unless it is { cmd, check_mode_safe: true }', examples: ['systemctl is-active xe-linux-distribution', { cmd: 'xe-daemon --version', stdout_regex: '^9\\.' }] },
    [`${p}.command.cmd`]: { description: 'the command line, run by the guest\'s shell', examples: ['test -e /usr/sbin/xe-daemon'] },
    [`${p}.command.exit_code`]: { description: 'the exit code the command must return (default 0)', examples: [0, 1] },
    [`${p}.command.stdout`]: { description: 'a string the command\'s stdout must contain', examples: ['active'] },
    [`${p}.command.stdout_regex`]: { description: 'a regular expression (JavaScript syntax) the command\'s stdout must match', examples: ['^9\\.[0-9]+'] },
    [`${p}.command.become`]: become,
    [`${p}.command.check_mode_safe`]: { description: 'the command changes nothing: run it in check mode too (reported in the step summary)', examples: [true] },
    [`${p}.file_exists`]: { description: 'a path on the guest that must exist (or, with exists: false, must not)', examples: ['/usr/sbin/xe-daemon', { path: '/etc/citrix', exists: false }] },
    [`${p}.file_exists.path`]: { description: 'absolute path on the guest', examples: ['/usr/sbin/xe-daemon'] },
    [`${p}.file_exists.exists`]: { description: 'whether the path must exist (default true)', examples: [false] },
    [`${p}.file_exists.become`]: become,
    [`${p}.package_installed`]: { description: 'a package the guest\'s package manager must have installed, optionally with a version constraint', examples: ['xe-guest-utilities', { name: 'xe-guest-utilities', version: '>= 7.30' }] },
    [`${p}.package_installed.name`]: { description: 'the package name', examples: ['xe-guest-utilities'] },
    [`${p}.package_installed.version`]: { description: 'version constraint the installed package must meet (release suffix compared as rpm/dpkg do)', examples: ['>= 7.30.0-1'] },
    [`${p}.pv_drivers_present`]: { description: 'Windows: the PV drivers are installed in the guest (true) or absent (false)', examples: [true] },
    [`${p}.tools_installed`]: { description: 'Windows: an installed product (Programs and Features) matching a name, optionally with a version constraint', examples: [{ product: 'XCP-ng Windows PV Tools', version: '>= 9.0' }] },
    [`${p}.tools_installed.product`]: { description: 'installed product name (substring, case-insensitive)', examples: ['XCP-ng Windows PV Tools'] },
    [`${p}.tools_installed.version`]: { description: 'version constraint the installed product must meet', examples: ['>= 9.0'] },
  };
};

/**
 * The table, made at first use: only the schemas' builders read it (`pvrun schema`, a schema
 * edited since the build, the tests). A run with the bundle's validators never does, and making
 * it at every start allocated ~0.46 MB (issue 17, fifteenth pass).
 */
export function propertyDocs(): Record<string, PropertyDoc> {
  return (docs ??= {
  // ── play ──────────────────────────────────────────────────────────────────────────────────
  'play.name': { description: 'the play\'s name, shown in output (default: the hosts pattern)', examples: ['Linux guest tools'] },
  'play.hosts': { description: 'host pattern: names, groups, globs, a:b union, a:&b intersection, a:!b exclusion', examples: ['linux', 'web-*:!web-03', 'linux:&prod'] },
  'play.vars': { description: 'play variables, available to templates as vars.* (lowest precedence)', examples: [{ iso_name: 'guest-tools.iso' }] },
  'play.serial': { description: 'batch sizes: a host count, a percentage, or a list of them (the last size repeats); default: all hosts in one batch', examples: [1, '25%', [1, 5, '20%']] },
  'play.max_fail_percentage': { description: 'when a batch\'s failed share (failed, unreachable, rolled back, needs attention) exceeds this, no further batch starts', examples: [10] },
  'play.forks': { description: 'hosts running at once within a batch (default 5; -f overrides it)', examples: [10] },
  'play.on_failure': { description: 'what happens to a failed host: rollback (default when a step makes a restore point, e.g. a snapshot), stop (no further batch), continue (default otherwise)', examples: ['rollback'] },
  'play.steps': { description: 'the steps, run in order on every host', examples: [[{ snapshot: null }, { reboot: 'guest' }]] },
  'play.cleanup': { description: 'steps always run for every host that started, after success or failure; never filtered by tags or --start-at-step', examples: [[{ 'detach-iso': null }]] },
  'play.script_roots': { description: 'directories besides the playbook\'s own that run-script files may come from (relative to the playbook)', examples: [['../scripts']] },
  // ── step (common keys) ───────────────────────────────────────────────────────────────────
  'step.name': { description: 'the step\'s name, shown in output; --start-at-step / --start-at-task refer to it (default: the step type)', examples: ['install guest tools'] },
  'step.when': { description: 'a typed predicate, or a list of them that must all hold; otherwise the step is skipped', examples: [{ path: 'facts.guest.os.family', equals: 'debian' }] },
  'step.tags': { description: 'tags for --tags / --skip-tags: a string or a list', examples: ['tools', ['tools', 'reboot']] },
  'step.timeout': { description: 'the step (plan and apply) is abandoned and fails after this duration (default 30m)', examples: ['10m', '1h'] },
  'step.retries': { description: 'extra attempts after a failure (default 0)', examples: [3] },
  'step.delay': { description: 'the wait between retries (default 5s)', examples: ['10s'] },
  'step.check_mode': { description: 'true: this step only plans (predicts), even in a real run', examples: [true] },
  'step.ignore_errors': { description: 'a failure of this step does not fail the host (default false)', examples: [true] },
  // ── when: predicates ─────────────────────────────────────────────────────────────────────
  'predicate.path': { description: 'what to test: run.*, host.*, vars.*, facts.* or registered.*', examples: ['facts.guest.os.family', 'vars.tools_version'] },
  'predicate.equals': { description: 'the value at path equals this', examples: ['debian'] },
  'predicate.not_equals': { description: 'the value at path differs from this', examples: ['Halted'] },
  'predicate.in': { description: 'the value at path is one of these', examples: [['redhat', 'suse']] },
  'predicate.not_in': { description: 'the value at path is none of these', examples: [['alpine']] },
  'predicate.matches': { description: 'the value at path (as text) matches this regular expression', examples: ['^8\\.'] },
  'predicate.exists': { description: 'true: the path has a value; false: it has none', examples: [true] },
  'predicate.version': { description: 'the value at path, read as a version, meets this constraint', examples: ['>= 9.0'] },
  'predicate.truthy': { description: 'true: the value at path is truthy; false: falsy', examples: [true] },
  'predicate.any': { description: 'at least one of these predicates holds', examples: [[{ path: 'facts.guest.os.family', equals: 'debian' }, { path: 'facts.guest.os.family', equals: 'redhat' }]] },
  'predicate.all': { description: 'every one of these predicates holds', examples: [[{ path: 'facts.vm.power_state', equals: 'Running' }]] },
  'predicate.not': { description: 'this predicate does not hold', examples: [{ path: 'facts.guest.tools.installed', truthy: true }] },
  // ── step arguments ───────────────────────────────────────────────────────────────────────
  'steps.snapshot.name': { description: 'the snapshot\'s name label (default: pvrun-<run id>-<step>)', examples: ['before-tools'] },
  'steps.snapshot.keep': { description: 'after a successful run: false deletes the snapshot, true keeps it, a duration keeps it until snapshot-prune / snapshots prune removes it', examples: [false, '3d'] },
  'steps.snapshot.timeout': { description: 'how long taking (or reverting to) the snapshot may take', examples: ['10m'] },
  'steps.attach-iso.iso': { description: 'the ISO\'s name in the pool\'s SRs (default: the pool\'s guest tools ISO)', examples: ['guest-tools.iso'] },
  'steps.attach-iso.replace': { description: 'eject an ISO already in the drive first (undo puts it back); without it a full drive fails the step', examples: [true] },
  'steps.vm-setting.windows_update_drivers': { description: '"Manage Citrix PV drivers via Windows Update" (VM.has_vendor_device); the VM is shut down for the change and started again', examples: [false] },
  'steps.vm-setting.shutdown_timeout': { description: 'how long a clean shutdown may take before the VM is forced off', examples: ['5m'] },
  'steps.vm-setting.timeout': { description: 'how long the whole change (shutdown, setting, start) may take', examples: ['15m'] },
  'steps.snapshot-prune.include_current_run': { description: 'also delete this run\'s own expired snapshots (default false)', examples: [true] },
  'steps.run-script.script': { description: 'an inline script, run by the interpreter', examples: ['uname -r'] },
  'steps.run-script.file': { description: 'a local script file (relative to the playbook or a script_roots directory), uploaded and run', examples: ['scripts/install-tools.sh'] },
  'steps.run-script.interpreter': { description: 'the program that runs the script (default /bin/sh)', examples: ['/bin/bash', '/usr/bin/python3'] },
  'steps.run-script.args': { description: 'arguments passed to the script', examples: [['--quiet']] },
  'steps.run-script.env': { description: 'environment variables for the script', examples: [{ LANG: 'C' }] },
  'steps.run-script.become': become,
  'steps.run-script.timeout': stepTimeoutSeconds('the script'),
  'steps.run-script.ok_codes': { description: 'exit codes that count as success (default [0])', examples: [[0, 3]] },
  'steps.run-script.creates': { description: 'a path on the guest: when it exists the script is not needed (ok, not run)', examples: ['/usr/sbin/xe-daemon'] },
  'steps.run-script.unless': { description: 'a command; when it exits 0 the script is not needed. Check mode does not run it (the step is \'unknown\') unless it is { cmd, check_mode_safe: true }', examples: ['systemctl is-active xe-linux-distribution'] },
  'steps.run-script.unless.cmd': { description: 'the command line, run by the guest\'s shell', examples: ['test -e /usr/sbin/xe-daemon'] },
  'steps.run-script.unless.check_mode_safe': { description: 'the command changes nothing: run it in check mode too (reported in the step summary)', examples: [true] },
  'steps.run-script.remote_tmp': { description: 'absolute directory on the guest where script files are uploaded (default: a private temporary directory)', examples: ['/var/tmp'] },
  'steps.mount.device': { description: 'the device to mount (default: the CD drive)', examples: ['/dev/sr0'] },
  'steps.mount.path': { description: 'absolute mount point; it must be empty (created when missing)', examples: ['/mnt/tools'] },
  'steps.mount.readonly': { description: 'mount read-only (default true)', examples: [false] },
  'steps.mount.fstype': { description: 'filesystem type (default: detected)', examples: ['iso9660'] },
  'steps.mount.become': become,
  'steps.unmount.path': { description: 'absolute mount point to unmount (not mounted is fine)', examples: ['/mnt/tools'] },
  'steps.unmount.become': become,
  'steps.package.name': { description: 'a package name, a list of them, or a map of OS family (redhat, debian, suse, alpine, default) to names', examples: ['xe-guest-utilities', { debian: 'xe-guest-utilities', redhat: 'xe-guest-utilities-latest' }] },
  'steps.package.name.redhat': { description: 'package name(s) on Red Hat family guests (dnf, yum)', examples: ['xe-guest-utilities-latest'] },
  'steps.package.name.debian': { description: 'package name(s) on Debian family guests (apt)', examples: ['xe-guest-utilities'] },
  'steps.package.name.suse': { description: 'package name(s) on SUSE guests (zypper)', examples: ['xe-guest-utilities'] },
  'steps.package.name.alpine': { description: 'package name(s) on Alpine guests (apk)', examples: ['xe-guest-utilities'] },
  'steps.package.name.default': { description: 'package name(s) for any other family', examples: ['xe-guest-utilities'] },
  'steps.package.state': { description: 'present (installed, default) or absent (removed)', examples: ['absent'] },
  'steps.package.enable_repo': { description: 'enable this extra repository first (Red Hat family: epel)', examples: ['epel'] },
  'steps.package.update_cache': { description: 'refresh the package manager\'s metadata first', examples: [true] },
  'steps.package.become': become,
  'steps.package.timeout': stepTimeoutSeconds('the package manager'),
  'steps.service.name': { description: 'the service name, or several candidates (the first that exists is used)', examples: ['xe-linux-distribution', ['xe-daemon', 'xe-linux-distribution']] },
  'steps.service.enabled': { description: 'start at boot (true) or not (false)', examples: [true] },
  'steps.service.state': { description: 'started, stopped or restarted', examples: ['started'] },
  'steps.service.become': become,
  'steps.reboot.via': { description: 'guest (the guest reboots itself, default) or hypervisor (XAPI restarts the VM)', examples: ['hypervisor'] },
  'steps.reboot.reboot_timeout': stepTimeoutSeconds('the reboot and the wait for the guest', '600'),
  'steps.reboot.test_command': { description: 'a command that must succeed on the guest before it counts as back', examples: ['systemctl is-system-running --wait'] },
  'steps.reboot.reboot_command': { description: 'the command that reboots the guest (via: guest)', examples: ['shutdown -r now'] },
  'steps.reboot.when_required': { description: 'reboot only when an earlier step said a reboot is required', examples: [true] },
  'steps.reboot.mode': { description: 'via: hypervisor: auto (clean, then hard when the guest does not react), clean or hard', examples: ['clean'] },
  'steps.reboot.become': become,
  'steps.msi-install.path': { description: 'the .msi file\'s path on the guest (e.g. on the tools CD)', examples: ['D:\\managementagentx64.msi'] },
  'steps.msi-install.properties': { description: 'MSI public properties (NAME=value) passed to msiexec', examples: [{ ALLUSERS: '1' }] },
  'steps.msi-install.log': { description: 'verbose installer log on the guest (default %TEMP%\\pvrun-<msi name>.log)', examples: ['C:\\Windows\\Temp\\tools.log'] },
  'steps.msi-install.ok_codes': { description: 'installer exit codes that count as success (default [0, 3010, 1641]; 3010/1641 also mark a reboot as required)', examples: [[0, 3010]] },
  'steps.msi-install.product': { description: 'installed-products name (substring, case-insensitive): when present, nothing to do', examples: ['XCP-ng Windows PV Tools'] },
  'steps.msi-install.version': { description: 'with product: a version constraint the installed one must meet', examples: ['>= 9.0'] },
  'steps.msi-install.timeout': stepTimeoutSeconds('the installer'),
  'steps.nic-migrate.action': { description: 'capture (record the static NIC settings per MAC, before the driver change) or restore (apply them to the new adapters, after it)', examples: ['capture'] },
  'steps.nic-migrate.macs': { description: 'only these MAC addresses (default: every adapter)', examples: [['52:54:00:12:34:56']] },
  'steps.nic-migrate.remove_ghosts': { description: 'restore: remove hidden (ghost) adapters left by the old driver (default true)', examples: [false] },
  'steps.nic-migrate.captured': { description: 'restore: the captured settings, when they come from an earlier run\'s records', examples: [[]] },
  'steps.citrix-cleanup.path': { description: 'XenClean\'s path on the guest (default: found on the tools CD)', examples: ['D:\\XenClean\\x64\\XenClean.ps1'] },
  'steps.citrix-cleanup.timeout': stepTimeoutSeconds('XenClean'),
  'steps.windows-reboot.reboot_timeout': stepTimeoutSeconds('the reboot and the wait for the guest', '1800'),
  'steps.windows-reboot.test_command': { description: 'a PowerShell command that must succeed before the guest counts as back', examples: ['Get-Service xenagent'] },
  'steps.windows-reboot.when_required': { description: 'reboot only when an earlier step said a reboot is required', examples: [true] },
  'steps.windows-reboot.max_followups': { description: 'further reboots allowed while Windows still reports a pending reboot (default 2)', examples: [3] },
  ...assertions('check'),
  'steps.check.otherwise': { description: 'what a failed check does to the host: fail (default) or skip-host (the host is done for this play, e.g. already migrated)', examples: ['skip-host'] },
  ...assertions('verify'),
  'steps.verify.timeout': { description: 'seconds to wait for the assertions to hold', examples: [600] },
  'steps.verify.interval': { description: 'seconds between evaluations (default 2)', examples: [5] },
  // ── inventory ───────────────────────────────────────────────────────────────────────────
  'inventory.hypervisors': { description: 'the pools, by name: how to reach each pool master\'s XAPI', examples: [{ pool1: { url: 'https://xcp1.example.com', username: 'root', password: { env: 'XAPI_PASSWORD' } } }] },
  'inventory.groups': { description: 'groups of hosts, by name (all always exists)', examples: [{ linux: { hosts: ['web-1', 'web-2'] } }] },
  'inventory.hosts': { description: 'the hosts, by name: their VM, connection and variables', examples: [{ 'web-1': { vm: { pool: 'pool1', name_label: 'web-1' } } }] },
  'hypervisor.username': { description: 'XAPI user: a string or a secret reference', examples: ['root', { env: 'XAPI_USER' }] },
  'hypervisor.password': { description: 'XAPI password: a secret reference (never a literal)', examples: [{ env: 'XAPI_PASSWORD' }, { file: '~/.secrets/xapi' }] },
  'hypervisor.tls': { description: 'how to verify the pool master\'s certificate (default: the system CAs)', examples: [{ ca: 'certs/pool-ca.pem' }, { fingerprint: '6B:2F:0E:7A:41:C3:9D:58:AA:10:4E:B2:7C:93:D1:05:E8:36:F4:29:0B:CC:51:7D:A2:64:18:9F:E3:40:B7:2A' }] },
  'tls.ca': { description: 'PEM CA bundle to verify the master\'s certificate', examples: ['certs/pool-ca.pem'] },
  'tls.insecure': { description: 'true turns verification off (warned about on every run; not with ca/fingerprint)', examples: [true] },
  'secret.env': { description: 'the name of an environment variable holding the secret', examples: ['XAPI_PASSWORD'] },
  'secret.file': { description: 'a file holding the secret (its content without the trailing newline)', examples: ['~/.secrets/xapi'] },
  'group.children': { description: 'child group names: their hosts are members of this group too', examples: [['web', 'db']] },
  'group.hosts': { description: 'host names, or (as Ansible writes it) a map of host name to its definition or nothing', examples: [['web-1', 'web-2'], { 'web-1': null }] },
  'group.vars': { description: 'group variables (deeper groups win over shallower ones; host vars win over both)', examples: [{ tools_iso: 'guest-tools.iso' }] },
  'group.connection': { description: 'connection defaults for the group\'s hosts, merged key by key (deeper groups win)', examples: ['ssh', { user: 'admin', key: '~/.ssh/id_ed25519' }] },
  'group.source': { description: 'xapi: a dynamic group whose hosts come from the pool at run time', examples: ['xapi'] },
  'group.pool': { description: 'the pool (a hypervisors key) a dynamic group reads its VMs from', examples: ['pool1'] },
  'group.filters': { description: 'which VMs of the pool a dynamic group takes', examples: [{ missing_tools: true, name: 'web-*' }] },
  'filters.missing_tools': { description: 'only VMs without PV drivers or management agent (true), or only those with them (false)', examples: [true] },
  'filters.tag': { description: 'only VMs with this XAPI tag', examples: ['tools-rollout'] },
  'filters.name': { description: 'only VMs whose name label matches this glob', examples: ['web-*'] },
  'host.vars': { description: 'host variables (win over group vars)', examples: [{ tools_iso: 'guest-tools-8.iso' }] },
  'host.groups': { description: 'extra group memberships, as an alternative to listing the host in the group', examples: [['linux', 'prod']] },
  'host.connection': { description: 'how to reach the guest OS (merged over the groups\' settings)', examples: ['ssh', { address: '10.0.0.5', user: 'admin' }] },
  'host.vm': { description: 'the host\'s VM: { pool, uuid } or { pool, name_label }', examples: [{ pool: 'pool1', uuid: '0b6c5d3e-1f2a-4b3c-8d4e-5f6a7b8c9d0e' }] },
  'vm.pool': { description: 'the pool holding the VM (a hypervisors key)', examples: ['pool1'] },
  'vm.name_label': { description: 'the VM\'s name label (must be unique on the pool)', examples: ['web-1'] },
  'connection.type': { description: 'ssh (default), psremoting, ssh-powershell, or none (hypervisor steps only)', examples: ['ssh-powershell'] },
  'connection.address': { description: 'name or IP to connect to (default: the host name)', examples: ['10.0.0.5'] },
  'connection.port': { description: 'TCP port (default 22 for ssh, 5985/5986 for psremoting)', examples: [2222] },
  'connection.user': { description: 'login user', examples: ['admin'] },
  'connection.key': { description: 'private key file (relative to the inventory file)', examples: ['~/.ssh/id_ed25519'] },
  'connection.passphrase': { description: 'the private key\'s passphrase: a secret reference', examples: [{ env: 'SSH_KEY_PASSPHRASE' }] },
  'connection.password': { description: 'login password: a secret reference', examples: [{ env: 'GUEST_PASSWORD' }] },
  'connection.agent': { description: 'use ssh-agent ($SSH_AUTH_SOCK) for keys', examples: [true] },
  'connection.host_key_checking': { description: 'strict (default: the key must be known), accept-new (learn unknown keys, refuse changed ones) or off', examples: ['accept-new'] },
  'connection.known_hosts': { description: 'known_hosts file (default ~/.ssh/known_hosts)', examples: ['.pvrun/known_hosts'] },
  'connection.proxy_jump': { description: 'a jump host, user@host:port', examples: ['admin@bastion.example.com:22'] },
  'connection.become_password': { description: 'sudo password for become: a secret reference (or -K / --ask-become-pass on the command line)', examples: [{ env: 'BECOME_PASSWORD' }] },
  'connection.transport': { description: 'psremoting only: wsman or ssh', examples: ['wsman'] },
  'connection.https': { description: 'psremoting only: WinRM over HTTPS', examples: [true] },
  'connection.connect_timeout': { description: 'seconds to wait for the connection to open', examples: [15] },
});
}

let docs: Record<string, PropertyDoc> | undefined;
