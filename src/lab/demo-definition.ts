import type { LabDefinition } from './guest/definition.js';

/**
 * The demo lab: mixed distributions; one VM already has the tools (skipped), one fails its
 * install (rolled back to its snapshot). The failing VM comes last, so the canary and the
 * middle batch succeed first.
 * `pvrun lab up` keeps it stable, so the checked-in inventories/lab.yml (`-i lab`) matches every
 * lab it starts: fixed UUIDs and fixed ports (checked free before anything starts; docs/lab.md).
 * `pvrun demo` writes its own inventory and so takes free ports (demoLabFreePorts).
 */
export const DEMO_LAB: LabDefinition = {
  guests: [
    { name: 'web-01', uuid: '22e7cb30-880e-4173-8508-632bb443b56b', distro: 'ubuntu', version: '22.04', port: 22101 },
    { name: 'web-02', uuid: '429aaaa1-ed90-4a20-8e37-63db1ca75a23', distro: 'ubuntu', version: '24.04', port: 22102 },
    { name: 'db-01', uuid: '31b93304-acce-47ce-8a53-2be730ced7ba', distro: 'rocky', version: '9', port: 22103 },
    { name: 'db-02', uuid: 'fd0cbae1-c192-406e-9cf8-b168c6fa553d', distro: 'alma', version: '9', port: 22104, toolsInstalled: true },
    { name: 'app-01', uuid: 'c9e034a5-9b90-4073-8a24-a5a04e7767c3', distro: 'debian', version: '12', port: 22105 },
    { name: 'app-02', uuid: '96e53784-6966-4ca3-8e86-97634c074d83', distro: 'rhel', version: '9', port: 22106 },
    { name: 'app-03', uuid: 'fd4870c3-9971-40f2-9265-05ac837783a1', distro: 'rocky', version: '8', port: 22107 },
    { name: 'legacy-01', uuid: '26721f4a-e49b-4518-84fb-afae6b03111a', distro: 'centos', version: '7', port: 22108, faults: { installFails: true } },
  ],
};

export const DEMO_XAPI_PORT = 22100;

/** The demo lab with ports left to be chosen free: `pvrun demo` never clashes with a running `lab up`. */
export function demoLabFreePorts(): LabDefinition {
  return { guests: DEMO_LAB.guests.map(({ port: _port, ...g }) => g) };
}

/**
 * The demo's Windows-like VM (needs pwsh): it gets the vendor device on (the default for new
 * VMs) and the XCP-ng Windows tools from the v9.1 release package the lab builds in the real
 * layout (its ISO, `windows_tools_iso` in the lab inventory); windows-tools.yml turns the vendor
 * device off, installs XenTools-x64.msi, and ends PVHVM with the agent reporting.
 */
export const DEMO_WINDOWS: { name: string; release: '9.0' | '9.1' | '9.2' }[] = [{ name: 'win-01', release: '9.1' }];
