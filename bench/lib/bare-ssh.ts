/** Bare ssh2 helpers shared by the floor script and the connector suite. */
import { readFileSync } from 'node:fs';
import { connect as netConnect } from 'node:net';
import ssh2 from 'ssh2';

export interface BareSpec { user: string }

export type Client = InstanceType<typeof ssh2.Client>;

export function knownKeys(file: string): Map<string, string> {
  const m = new Map<string, string>();
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const [names, , b64] = line.trim().split(/\s+/);
    if (!names || !b64) continue;
    for (const n of names.split(',')) m.set(n, b64);
  }
  return m;
}

export function execOnce(c: Client, command: string, stdin?: string): Promise<number | null> {
  return new Promise((resolve, reject) => {
    c.exec(command, (e, stream) => {
      if (e) { reject(e); return; }
      if (stdin !== undefined) stream.end(stdin);
      let code: number | null = null;
      stream.on('exit', (c1: number | null) => { code = c1; });
      stream.on('close', () => resolve(code));
      stream.resume();
      stream.stderr.resume();
    });
  });
}

export function connectHost(host: string, port: number, spec: BareSpec, privateKey: Buffer, known: Map<string, string>): Promise<Client> {
  return new Promise((resolve, reject) => {
    const sock = netConnect(port, host);
    sock.setNoDelay(true);
    const c = new ssh2.Client();
    const expected = known.get(`[${host}]:${port}`) ?? known.get(host);
    c.once('ready', () => resolve(c));
    c.once('error', reject);
    c.connect({
      sock, username: spec.user, privateKey, readyTimeout: 60_000,
      hostVerifier: (key: Buffer) => key.toString('base64') === expected,
    });
  });
}

