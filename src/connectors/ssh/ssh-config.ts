/**
 * The part of ~/.ssh/config that pvrun honours: `Host` blocks (patterns with `*`, `?`, `!`) and
 * HostName, Port, User, IdentityFile, ProxyJump, UserKnownHostsFile. As in ssh(1), the first
 * value found for a keyword wins; the inventory's own settings win over all of them.
 * (`Match`, `Include` and tokens like %h are not supported: such blocks are ignored.)
 */
export interface SshConfigEntry {
  hostname?: string;
  port?: number;
  user?: string;
  identityfile?: string;
  proxyjump?: string;
  userknownhostsfile?: string;
}

const KEYS = new Set(['hostname', 'port', 'user', 'identityfile', 'proxyjump', 'userknownhostsfile']);

function patternMatches(patterns: string[], host: string): boolean {
  let matched = false;
  for (const raw of patterns) {
    const neg = raw.startsWith('!');
    const p = neg ? raw.slice(1) : raw;
    const re = new RegExp(`^${p.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`, 'i');
    if (re.test(host)) {
      if (neg) return false;
      matched = true;
    }
  }
  return matched;
}

/** Pure: the settings ~/.ssh/config gives `host`. */
export function sshConfigFor(text: string, host: string): SshConfigEntry {
  const out: Record<string, string> = {};
  // lines before the first Host/Match apply to every host
  let active = true;
  for (const line0 of text.split('\n')) {
    const line = line0.trim();
    if (!line || line.startsWith('#')) continue;
    const m = /^(\S+?)\s*(?:=\s*|\s+)(.*)$/.exec(line);
    if (!m?.[1]) continue;
    const key = m[1].toLowerCase();
    const value = (m[2] ?? '').trim().replace(/^"(.*)"$/, '$1');
    if (key === 'host') { active = patternMatches(value.split(/\s+/), host); continue; }
    if (key === 'match') { active = false; continue; }
    if (!active || !KEYS.has(key) || key in out || value.includes('%')) continue;
    out[key] = value;
  }
  const e: SshConfigEntry = {};
  if (out['hostname']) e.hostname = out['hostname'];
  if (out['port'] && /^\d+$/.test(out['port'])) e.port = Number(out['port']);
  if (out['user']) e.user = out['user'];
  if (out['identityfile']) e.identityfile = out['identityfile'];
  if (out['proxyjump'] && out['proxyjump'].toLowerCase() !== 'none') e.proxyjump = out['proxyjump'].split(',')[0]!;
  if (out['userknownhostsfile']) e.userknownhostsfile = out['userknownhostsfile'].split(/\s+/)[0]!;
  return e;
}
