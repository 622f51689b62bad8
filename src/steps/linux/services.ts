/**
 * Service state and commands for systemd and SysV/OpenRC init scripts, pure. One probe looks at
 * every candidate name, so "the first that exists" costs one round trip.
 */
import { quoteArgs, quoteShell } from '../../util/shell-quote.js';

/**
 * Service names: systemd unit name characters (systemd's unit-name.c: VALID_CHARS is
 * alphanumerics and ":-_.\\"; "@" separates a template instance) without the backslash, not
 * starting with '-' or '.', no '/': the name goes into systemctl's arguments (after `--`) and,
 * for SysV, into the path /etc/init.d/NAME.
 */
import { SERVICE_NAME_DESCRIPTION, SERVICE_NAME_PATTERN } from '../catalog.js';
// defined in the step catalog, which the loader reads without the implementations (issue 17)
export { SERVICE_NAME_DESCRIPTION, SERVICE_NAME_PATTERN };
const SERVICE_RE = new RegExp(SERVICE_NAME_PATTERN);

export function invalidServiceName(names: readonly string[]): string | undefined {
  const badName = names.find((n) => !SERVICE_RE.test(n) || n.length > 255);
  return badName === undefined ? undefined : `invalid service name ${JSON.stringify(badName)}: ${SERVICE_NAME_DESCRIPTION}`;
}

export interface ServiceInfo {
  name: string;
  /** how this service is managed: systemctl, or its init script */
  init: 'systemd' | 'sysv';
  active: boolean;
  enabled: boolean;
}

export interface ServiceProbe {
  /** systemd is PID 1 (/run/systemd/system exists) */
  init: 'systemd' | 'sysv';
  /** candidates that exist, in the order asked */
  found: ServiceInfo[];
}

const UNIT_DIRS = '/etc/systemd/system /run/systemd/system /usr/local/lib/systemd/system /usr/lib/systemd/system /lib/systemd/system';

/**
 * With systemd running, systemctl decides. Without the marker, an init script wins; a unit file
 * with no init script but a systemctl on the PATH is still managed with systemctl (minimal
 * containers, and the lab's emulated systemd, have no /run/systemd/system).
 */
export function serviceProbeCommand(candidates: string[]): string {
  return [
    'if [ -d /run/systemd/system ]; then sd=1; echo init=systemd; else sd=; echo init=sysv; fi',
    'command -v systemctl >/dev/null 2>&1 && sc=1 || sc=',
    `for s in ${quoteArgs(candidates)}; do`,
    '  mode=',
    '  if [ -n "$sd" ]; then',
    '    [ "$(systemctl show -p LoadState --value -- "$s.service" 2>/dev/null)" = loaded ] && mode=systemd',
    '  elif [ -x "/etc/init.d/$s" ]; then mode=sysv',
    `  elif [ -n "$sc" ]; then for d in ${UNIT_DIRS}; do [ -f "$d/$s.service" ] && { mode=systemd; break; }; done`,
    '  fi',
    '  case "$mode" in',
    '    systemd)',
    '      echo "exists=$s systemd"',
    '      systemctl is-active --quiet -- "$s.service" 2>/dev/null && echo "active=$s"',
    '      systemctl is-enabled --quiet -- "$s.service" 2>/dev/null && echo "enabled=$s" ;;',
    '    sysv)',
    '      echo "exists=$s sysv"',
    '      "/etc/init.d/$s" status >/dev/null 2>&1 && echo "active=$s"',
    '      { ls /etc/rc[2345].d/S[0-9][0-9]"$s" || ls "/etc/runlevels/default/$s"; } >/dev/null 2>&1 && echo "enabled=$s" ;;',
    '  esac',
    'done',
    'true',
  ].join('\n');
}

export function parseServiceProbe(out: string): ServiceProbe {
  let init: 'systemd' | 'sysv' = 'sysv';
  const exists: { name: string; init: 'systemd' | 'sysv' }[] = [];
  const active = new Set<string>();
  const enabled = new Set<string>();
  for (const line of out.split('\n')) {
    const i = line.indexOf('=');
    if (i < 0) continue;
    const k = line.slice(0, i);
    const v = line.slice(i + 1);
    if (k === 'init') init = v === 'systemd' ? 'systemd' : 'sysv';
    else if (k === 'exists') {
      const [name, mode] = v.split(' ');
      if (name) exists.push({ name, init: mode === 'systemd' ? 'systemd' : 'sysv' });
    } else if (k === 'active') active.add(v);
    else if (k === 'enabled') enabled.add(v);
  }
  return { init, found: exists.map((e) => ({ ...e, active: active.has(e.name), enabled: enabled.has(e.name) })) };
}

export type ServiceAction = 'enable' | 'disable' | 'start' | 'stop' | 'restart';

export function serviceCommand(init: 'systemd' | 'sysv', name: string, action: ServiceAction): string {
  const n = quoteShell(name);
  // names are validated (invalidServiceName): no leading '-' for the SysV tools, no '/' in the path
  if (init === 'systemd') return `systemctl ${action} -- ${quoteShell(`${name}.service`)}`;
  switch (action) {
    case 'enable':
      return `if command -v update-rc.d >/dev/null 2>&1; then update-rc.d ${n} defaults; ` +
        `elif command -v chkconfig >/dev/null 2>&1; then chkconfig ${n} on; ` +
        `elif command -v rc-update >/dev/null 2>&1; then rc-update add ${n} default; ` +
        `else echo 'no update-rc.d, chkconfig or rc-update' >&2; exit 1; fi`;
    case 'disable':
      return `if command -v update-rc.d >/dev/null 2>&1; then update-rc.d ${n} disable; ` +
        `elif command -v chkconfig >/dev/null 2>&1; then chkconfig ${n} off; ` +
        `elif command -v rc-update >/dev/null 2>&1; then rc-update del ${n} default; ` +
        `else echo 'no update-rc.d, chkconfig or rc-update' >&2; exit 1; fi`;
    case 'start': case 'stop': case 'restart':
      return `/etc/init.d/${n} ${action}`;
  }
}

/** The actions needed to get from `info` to the wanted state, in order (enable before start). */
export function serviceActions(info: ServiceInfo, want: { enabled?: boolean; state?: 'started' | 'stopped' | 'restarted' }): ServiceAction[] {
  const out: ServiceAction[] = [];
  if (want.enabled === true && !info.enabled) out.push('enable');
  if (want.enabled === false && info.enabled) out.push('disable');
  if (want.state === 'started' && !info.active) out.push('start');
  if (want.state === 'stopped' && info.active) out.push('stop');
  if (want.state === 'restarted') out.push(info.active ? 'restart' : 'start');
  return out;
}
