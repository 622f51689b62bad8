/**
 * Turning what a guest publishes into a GuestReport for the simulator's VM_guest_metrics:
 * PV drivers are "detected" once a Linux kernel has booted (the PV frontends connect early in a
 * real boot); the agent is reported while its heartbeat is fresh and from the current boot.
 */
import type { GuestReport } from '../sim-hooks.js';

export interface Heartbeat {
  version: string;
  time: number;
  bootId: string;
  fields: Record<string, string>;
}

export function parseHeartbeat(text: string): Heartbeat | undefined {
  const fields: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const i = line.indexOf('=');
    if (i > 0) fields[line.slice(0, i)] = line.slice(i + 1);
  }
  const version = fields['version'];
  const time = Number(fields['time']);
  if (!version || !Number.isFinite(time)) return undefined;
  return { version, time, bootId: fields['boot_id'] ?? '', fields };
}

/** "8.4.0-1" → {8,4,0,1}; undefined when it does not look like a version */
export function parseAgentVersion(v: string): GuestReport['agentVersion'] | undefined {
  const m = /^(\d+)\.(\d+)\.(\d+)(?:-(\d+))?/.exec(v);
  if (!m) return undefined;
  return { major: Number(m[1]), minor: Number(m[2]), micro: Number(m[3]), build: Number(m[4] ?? 0) };
}

export function buildReport(kernelUp: boolean, hb: Heartbeat | undefined): GuestReport {
  const agentVersion = hb ? parseAgentVersion(hb.version) ?? null : null;
  const report: GuestReport = { pvDriversDetected: kernelUp, agentVersion };
  if (hb && agentVersion) {
    const f = hb.fields;
    if (f['os_distro']) {
      report.os = {
        name: f['os_name'] ?? '',
        distro: f['os_distro'],
        major: f['os_majorver'] ?? '',
        ...(f['os_minorver'] ? { minor: f['os_minorver'] } : {}),
        ...(f['os_uname'] ? { uname: f['os_uname'] } : {}),
      };
    }
    // XAPI's networks map: "<device>/ip", "<device>/ipv4/<n>", "<device>/ipv6/<n>"; the guest
    // shares the controller's network, so all addresses are reported on device 0
    const ips: Record<string, string> = {};
    let v4 = 0, v6 = 0;
    for (let i = 0; f[`ip${i}`] !== undefined; i++) {
      const ip = f[`ip${i}`]!;
      if (ip.includes(':')) ips[`0/ipv6/${v6++}`] = ip;
      else {
        if (v4 === 0) ips['0/ip'] = ip;
        ips[`0/ipv4/${v4++}`] = ip;
      }
    }
    if (Object.keys(ips).length > 0) report.ips = ips;
  }
  return report;
}
