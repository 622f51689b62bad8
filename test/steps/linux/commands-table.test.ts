/**
 * The Linux steps' decisions as tables, in pyinfra's manner (tests/operations/*.json:
 * {args, facts} → {commands}): what the service step runs for a service in a given state, and
 * what the package step runs for each package manager — pure functions, no guest.
 */
import { describe, expect, it } from 'vitest';
import { serviceActions, serviceCommand, type ServiceInfo } from '../../../src/steps/linux/services.js';
import { installCommand, removeCommand } from '../../../src/steps/linux/package-manager.js';
import type { PackageManager } from '../../../src/facts/linux.js';

type Want = { enabled?: boolean; state?: 'started' | 'stopped' | 'restarted' };

const service: { name: string; args: Want; facts: ServiceInfo; commands: string[] }[] = [
  { name: 'installed, not enabled, not running → enable then start (systemd)', args: { enabled: true, state: 'started' },
    facts: { name: 'xe-linux-distribution', init: 'systemd', enabled: false, active: false },
    commands: ["systemctl enable -- xe-linux-distribution.service", "systemctl start -- xe-linux-distribution.service"] },
  { name: 'already as wanted → nothing', args: { enabled: true, state: 'started' },
    facts: { name: 'xe-daemon', init: 'systemd', enabled: true, active: true }, commands: [] },
  { name: 'running, wanted stopped and disabled → disable, stop', args: { enabled: false, state: 'stopped' },
    facts: { name: 'xe-daemon', init: 'systemd', enabled: true, active: true },
    commands: ["systemctl disable -- xe-daemon.service", "systemctl stop -- xe-daemon.service"] },
  { name: 'restarted while stopped → start (SysV)', args: { state: 'restarted' },
    facts: { name: 'xe-linux-distribution', init: 'sysv', enabled: true, active: false },
    commands: ["/etc/init.d/xe-linux-distribution start"] },
  { name: 'restarted while running (SysV)', args: { state: 'restarted' },
    facts: { name: 'xe-linux-distribution', init: 'sysv', enabled: true, active: true },
    commands: ["/etc/init.d/xe-linux-distribution restart"] },
];

describe('service: {args, facts} → commands', () => {
  it.each(service)('$name', ({ args, facts, commands }) => {
    expect(serviceActions(facts, args).map((a) => serviceCommand(facts.init, facts.name, a))).toEqual(commands);
  });
});

const pkg: { pm: PackageManager; names: string[]; updateCache?: boolean; install: string; remove: string }[] = [
  { pm: 'dnf', names: ['xe-guest-utilities-latest'], install: "dnf install -y -- xe-guest-utilities-latest", remove: "dnf remove -y -- xe-guest-utilities-latest" },
  { pm: 'yum', names: ['xe-guest-utilities'], install: "yum install -y -- xe-guest-utilities", remove: "yum remove -y -- xe-guest-utilities" },
  { pm: 'apt', names: ['xe-guest-utilities'], updateCache: true,
    install: "export DEBIAN_FRONTEND=noninteractive; apt-get update -q && apt-get install -y -q -- xe-guest-utilities",
    remove: "export DEBIAN_FRONTEND=noninteractive; apt-get remove -y -q -- xe-guest-utilities" },
  { pm: 'zypper', names: ['a', 'b'], install: "zypper --non-interactive install -- a b", remove: "zypper --non-interactive remove -- a b" },
  { pm: 'apk', names: ['xe-guest-utilities'], updateCache: true, install: "apk add --update-cache -- xe-guest-utilities", remove: "apk del -- xe-guest-utilities" },
  // a hostile name from a template stays one quoted argument after `--`
  { pm: 'dnf', names: ["x'; reboot; '"], install: "dnf install -y -- 'x'\\''; reboot; '\\'''", remove: "dnf remove -y -- 'x'\\''; reboot; '\\'''" },
];

describe('package: {manager, names} → install and remove commands', () => {
  it.each(pkg)('$pm $names', ({ pm, names, updateCache, install, remove }) => {
    expect(installCommand(pm, names, { updateCache: updateCache === true })).toBe(install);
    expect(removeCommand(pm, names)).toBe(remove);
  });
});
