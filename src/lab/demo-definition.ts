import type { LabDefinition } from './guest/definition.js';

/**
 * The demo lab: mixed distributions; one VM already has the tools (skipped), one fails its
 * install (rolled back to its snapshot). Fixed ports so inventories/lab.yml stays valid.
 * The failing VM comes last, so the canary and the middle batch succeed first.
 */
export const DEMO_LAB: LabDefinition = {
  guests: [
    { name: 'web-01', distro: 'ubuntu', version: '22.04', port: 22101 },
    { name: 'web-02', distro: 'ubuntu', version: '24.04', port: 22102 },
    { name: 'db-01', distro: 'rocky', version: '9', port: 22103 },
    { name: 'db-02', distro: 'alma', version: '9', port: 22104, toolsInstalled: true },
    { name: 'app-01', distro: 'debian', version: '12', port: 22105 },
    { name: 'app-02', distro: 'rhel', version: '9', port: 22106 },
    { name: 'app-03', distro: 'rocky', version: '8', port: 22107 },
    { name: 'legacy-01', distro: 'centos', version: '7', port: 22108, faults: { installFails: true } },
  ],
};

export const DEMO_XAPI_PORT = 22100;
