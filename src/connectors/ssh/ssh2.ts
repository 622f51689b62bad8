/**
 * The one place that imports ssh2. It is CommonJS, and Node's ESM loader cannot see its named
 * exports, so they are taken from the module object here. It is loaded at first use, not at
 * start-up: `pvrun --help`, `validate` and runs without SSH hosts never need it (issue 17).
 */
import { createRequire } from 'node:module';
import type * as Ssh2 from 'ssh2';

type Ssh2Module = typeof Ssh2;
let mod: Ssh2Module | undefined;
const ssh2 = (): Ssh2Module => (mod ??= createRequire(import.meta.url)('ssh2') as Ssh2Module);

export type Client = Ssh2.Client;
export function newClient(): Client {
  return new (ssh2().Client)();
}
export const parseKey: Ssh2Module['utils']['parseKey'] = (...a: Parameters<Ssh2Module['utils']['parseKey']>) => ssh2().utils.parseKey(...a);
export type { ClientChannel, ConnectConfig } from 'ssh2';
