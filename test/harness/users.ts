/**
 * Real unprivileged users for the become tests: created with useradd (idempotent: an existing
 * user is reused), each with a real sudoers drop-in in /etc/sudoers.d checked by `visudo -c`.
 *
 * - `pvrun-test`: `NOPASSWD: ALL` — become works with `sudo -n`, no password anywhere;
 * - `pvrun-test-pw`: `ALL` with a password — become needs the become password.
 *
 * Logging in as them over the lab sshd (src/lab/sshd.ts with `user`) means `id -u` is really
 * non-zero without become, so a become that silently does nothing cannot pass a test.
 */
import { execFileSync } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { firstReason, requireBinary, requireRoot } from './require.js';

export const NOPASSWD_USER = 'pvrun-test';
export const PASSWORD_USER = 'pvrun-test-pw';
export const PASSWORD_USER_PASSWORD = 'Pv-become-S3cret!';

/** undefined when test users can be made here; else why (printed / failing under CI). */
export function testUsersSkipReason(): string | undefined {
  return firstReason(
    requireRoot('creating test users and sudoers rules'),
    requireBinary('sudo', 'apt-get install sudo'),
    requireBinary('useradd', 'passwd'),
    requireBinary('visudo', 'sudo'),
  );
}

function ensureUser(name: string): number {
  try {
    execFileSync('id', ['-u', name], { stdio: 'ignore' });
  } catch {
    execFileSync('useradd', ['-m', '-s', '/bin/sh', name]);
  }
  return Number(execFileSync('id', ['-u', name], { encoding: 'utf8' }).trim());
}

function sudoers(file: string, rule: string): void {
  const path = `/etc/sudoers.d/${file}`;
  writeFileSync(path, `${rule}\n`, { mode: 0o440 });
  try {
    execFileSync('visudo', ['-c', '-q', '-f', path], { stdio: 'pipe' });
  } catch (e) {
    rmSync(path, { force: true });
    throw new Error(`sudoers rule ${path} rejected by visudo: ${String(e)}`);
  }
}

export interface TestUsers { nopasswd: { name: string; uid: number }; password: { name: string; uid: number; password: string } }

/** Make (or reuse) both users and their sudoers rules. Idempotent; safe to call from every file. */
export function ensureTestUsers(): TestUsers {
  const a = ensureUser(NOPASSWD_USER);
  // no password, but not locked: without PAM, sshd refuses even key logins to a locked ('!')
  // account; '*' matches no password, so only the key works
  execFileSync('usermod', ['-p', '*', NOPASSWD_USER]);
  sudoers('pvrun-test', `${NOPASSWD_USER} ALL=(ALL) NOPASSWD: ALL`);
  const b = ensureUser(PASSWORD_USER);
  execFileSync('chpasswd', { input: `${PASSWORD_USER}:${PASSWORD_USER_PASSWORD}\n` });
  sudoers('pvrun-test-pw', `${PASSWORD_USER} ALL=(ALL) ALL`);
  if (a === 0 || b === 0) throw new Error('a test user has uid 0');
  return { nopasswd: { name: NOPASSWD_USER, uid: a }, password: { name: PASSWORD_USER, uid: b, password: PASSWORD_USER_PASSWORD } };
}

/** Remove both users (and their homes) and their sudoers rules: nothing stays on the machine. */
export function removeTestUsers(): void {
  rmSync('/etc/sudoers.d/pvrun-test', { force: true });
  rmSync('/etc/sudoers.d/pvrun-test-pw', { force: true });
  for (const u of [NOPASSWD_USER, PASSWORD_USER]) {
    // -f: a just-closed session of the user may still be exiting
    try { execFileSync('userdel', ['-f', '-r', u], { stdio: 'ignore' }); } catch { /* already gone */ }
  }
}
