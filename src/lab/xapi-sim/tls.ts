import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface SelfSignedCert {
  key: string;
  cert: string;
  /** SHA-256 fingerprint, colon-separated upper-case hex (as openssl and browsers show it) */
  fingerprint256: string;
}

/** A throwaway self-signed certificate for 127.0.0.1, like a fresh XCP-ng host has (needs the openssl CLI). */
export function selfSignedCert(cn = '127.0.0.1'): SelfSignedCert {
  const dir = mkdtempSync(join(tmpdir(), 'xapi-sim-tls-'));
  try {
    const key = join(dir, 'key.pem');
    const cert = join(dir, 'cert.pem');
    execFileSync('openssl', [
      'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
      '-keyout', key, '-out', cert, '-days', '2', '-subj', `/CN=${cn}`,
      '-addext', `subjectAltName=IP:${cn}`,
    ], { stdio: 'pipe' });
    const pem = readFileSync(cert, 'utf8');
    return { key: readFileSync(key, 'utf8'), cert: pem, fingerprint256: new X509Certificate(pem).fingerprint256 };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
