export { SshConnector, type SshConnectorOptions } from './connector.js';
export { resolveSsh, parseEndpoint, type ResolveSecret, type ResolvedSsh, type SshEndpoint } from './options.js';
export { quoteShell } from '../../util/shell-quote.js';
