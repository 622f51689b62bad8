/**
 * The lab definition: which guests to create, as YAML or JSON.
 *
 *     guests:
 *       - name: web-01
 *         uuid: 6f1c…            # optional: generated when absent
 *         distro: ubuntu         # rhel, alma, rocky, centos, oracle, fedora, ubuntu, debian, alpine
 *         version: "22.04"       # "9" means the distribution's current 9.x
 *         tools_installed: false
 *         port: 2201             # optional: a free port is chosen when absent
 *         reboot_delay_ms: 500   # optional: time between shutdown and start on reboots
 *         faults:
 *           install_fails: false         # install.sh writes a file, then exits 1
 *           reboot_never_returns: false  # after any reboot the guest hangs before init (no sshd)
 *           slow_boot_ms: 0              # delay before services and sshd start
 *           ssh_down: false              # the guest boots without sshd
 */
import { randomUUID } from 'node:crypto';
import { parse as parseYaml } from 'yaml';
import { err, ok, type Result } from '../../util/result.js';
import { KNOWN_DISTROS, resolveDistro, type DistroIdentity } from './distros.js';

export interface GuestFaults {
  installFails: boolean;
  rebootNeverReturns: boolean;
  slowBootMs: number;
  sshDown: boolean;
}

export interface GuestSpec {
  name: string;
  uuid?: string;
  distro: string;
  version: string;
  toolsInstalled?: boolean;
  port?: number;
  rebootDelayMs?: number;
  faults?: Partial<GuestFaults>;
}

export interface LabDefinition {
  guests: GuestSpec[];
}

/** A guest spec with defaults applied and its identity resolved. */
export interface ResolvedGuest {
  name: string;
  uuid: string;
  distro: string;
  version: string;
  identity: DistroIdentity;
  toolsInstalled: boolean;
  port: number;
  rebootDelayMs: number;
  faults: GuestFaults;
}

const NAME = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/i;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

type Raw = Record<string, unknown>;
const isObj = (x: unknown): x is Raw => typeof x === 'object' && x !== null && !Array.isArray(x);

/** Parse YAML or JSON text (JSON is YAML) into a definition; every problem is listed. */
export function parseLabDefinition(text: string): Result<LabDefinition, string[]> {
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (e) {
    return err([`not valid YAML/JSON: ${e instanceof Error ? e.message : String(e)}`]);
  }
  return validateLabDefinition(doc);
}

export function validateLabDefinition(doc: unknown): Result<LabDefinition, string[]> {
  const problems: string[] = [];
  if (!isObj(doc) || !Array.isArray(doc['guests'])) return err(['expected an object with a "guests" list']);
  const guests: GuestSpec[] = [];
  const seenNames = new Set<string>();
  const seenUuids = new Set<string>();
  const seenPorts = new Set<number>();
  (doc['guests'] as unknown[]).forEach((g, i) => {
    const at = `guests[${i}]`;
    if (!isObj(g)) { problems.push(`${at}: expected an object`); return; }
    const known = new Set(['name', 'uuid', 'distro', 'version', 'tools_installed', 'port', 'reboot_delay_ms', 'faults']);
    for (const k of Object.keys(g)) if (!known.has(k)) problems.push(`${at}: unknown key "${k}"`);
    const name = g['name'];
    if (typeof name !== 'string' || !NAME.test(name)) { problems.push(`${at}.name: a hostname-like name is required`); return; }
    if (seenNames.has(name)) problems.push(`${at}.name: duplicate "${name}"`);
    seenNames.add(name);
    const spec: GuestSpec = { name, distro: '', version: '' };
    const uuid = g['uuid'];
    if (uuid !== undefined) {
      if (typeof uuid !== 'string' || !UUID.test(uuid)) problems.push(`${at}.uuid: not a UUID`);
      else if (seenUuids.has(uuid.toLowerCase())) problems.push(`${at}.uuid: duplicate`);
      else { spec.uuid = uuid.toLowerCase(); seenUuids.add(spec.uuid); }
    }
    const distro = g['distro'];
    const version = typeof g['version'] === 'number' ? String(g['version']) : g['version'];
    if (typeof distro !== 'string' || !KNOWN_DISTROS.includes(distro.toLowerCase())) {
      problems.push(`${at}.distro: one of ${KNOWN_DISTROS.join(', ')}`);
    } else if (typeof version !== 'string' || !resolveDistro(distro, version)) {
      problems.push(`${at}.version: a version such as "9" or "22.04" is required`);
    } else {
      spec.distro = distro;
      spec.version = version;
    }
    if (g['tools_installed'] !== undefined) {
      if (typeof g['tools_installed'] !== 'boolean') problems.push(`${at}.tools_installed: true or false`);
      else spec.toolsInstalled = g['tools_installed'];
    }
    if (g['port'] !== undefined) {
      const p = g['port'];
      if (typeof p !== 'number' || !Number.isInteger(p) || p < 1024 || p > 65535) problems.push(`${at}.port: 1024-65535`);
      else if (seenPorts.has(p)) problems.push(`${at}.port: duplicate`);
      else { spec.port = p; seenPorts.add(p); }
    }
    if (g['reboot_delay_ms'] !== undefined) {
      const d = g['reboot_delay_ms'];
      if (typeof d !== 'number' || !Number.isInteger(d) || d < 0) problems.push(`${at}.reboot_delay_ms: a non-negative integer`);
      else spec.rebootDelayMs = d;
    }
    const f = g['faults'];
    if (f !== undefined) {
      if (!isObj(f)) problems.push(`${at}.faults: expected an object`);
      else {
        const faults: Partial<GuestFaults> = {};
        for (const [k, v] of Object.entries(f)) {
          const where = `${at}.faults.${k}`;
          switch (k) {
            case 'install_fails': if (typeof v === 'boolean') faults.installFails = v; else problems.push(`${where}: true or false`); break;
            case 'reboot_never_returns': if (typeof v === 'boolean') faults.rebootNeverReturns = v; else problems.push(`${where}: true or false`); break;
            case 'ssh_down': if (typeof v === 'boolean') faults.sshDown = v; else problems.push(`${where}: true or false`); break;
            case 'slow_boot_ms':
              if (typeof v === 'number' && Number.isInteger(v) && v >= 0) faults.slowBootMs = v;
              else problems.push(`${where}: a non-negative integer`);
              break;
            default: problems.push(`${where}: unknown fault (install_fails, reboot_never_returns, slow_boot_ms, ssh_down)`);
          }
        }
        spec.faults = faults;
      }
    }
    guests.push(spec);
  });
  return problems.length > 0 ? err(problems) : ok({ guests });
}

/** Checks for definitions built in code (parseLabDefinition checks YAML/JSON input itself). */
export function checkSpecs(guests: readonly GuestSpec[]): string[] {
  const problems: string[] = [];
  const names = new Set<string>();
  const uuids = new Set<string>();
  for (const g of guests) {
    if (!NAME.test(g.name)) problems.push(`${JSON.stringify(g.name)}: not a hostname-like name`);
    if (names.has(g.name)) problems.push(`${g.name}: duplicate name`);
    names.add(g.name);
    if (g.uuid !== undefined) {
      if (!UUID.test(g.uuid)) problems.push(`${g.name}: uuid is not a UUID`);
      if (uuids.has(g.uuid.toLowerCase())) problems.push(`${g.name}: duplicate uuid`);
      uuids.add(g.uuid.toLowerCase());
    }
    if (!resolveDistro(g.distro, g.version)) problems.push(`${g.name}: unknown distribution ${g.distro} ${g.version}`);
  }
  return problems;
}

/** Apply defaults. `port` must be supplied for specs without one (the manager picks free ports). */
export function resolveGuest(spec: GuestSpec, port: number, defaultRebootDelayMs: number): Result<ResolvedGuest, string> {
  const identity = resolveDistro(spec.distro, spec.version);
  if (!identity) return err(`${spec.name}: unknown distribution ${spec.distro} ${spec.version}`);
  return ok({
    name: spec.name,
    uuid: spec.uuid ?? randomUUID(),
    distro: identity.id,
    version: identity.versionId,
    identity,
    toolsInstalled: spec.toolsInstalled ?? false,
    port: spec.port ?? port,
    rebootDelayMs: spec.rebootDelayMs ?? defaultRebootDelayMs,
    faults: {
      installFails: spec.faults?.installFails ?? false,
      rebootNeverReturns: spec.faults?.rebootNeverReturns ?? false,
      slowBootMs: spec.faults?.slowBootMs ?? 0,
      sshDown: spec.faults?.sshDown ?? false,
    },
  });
}
