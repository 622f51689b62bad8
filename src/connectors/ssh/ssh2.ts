/**
 * The one place that imports ssh2. It is CommonJS, and Node's ESM loader cannot see its named
 * exports, so they are taken from the default export here.
 */
import ssh2 from 'ssh2';

export const Client = ssh2.Client;
export type Client = InstanceType<typeof ssh2.Client>;
export const parseKey = ssh2.utils.parseKey;
export type { ClientChannel, ConnectConfig } from 'ssh2';
