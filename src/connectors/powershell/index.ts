export { SshPowerShellConnector, type SshPowerShellOptions, type RawExec } from './ssh-powershell.js';
export { PsRemotingConnector, sessionSpecOf, type PsRemotingOptions } from './psremoting.js';
export { PwshPool, type PwshPoolOptions, type SessionSpec } from './pool.js';
export { createSshPowerShell, createPsRemoting, type CreateSshPowerShellOptions, type CreatePsRemotingOptions } from './create.js';
export { execJson, type JsonExecResult } from './exec-json.js';
export { processWrapper, takeExitMarker, EXIT_MARKER, commandLine, jsonScript, REMOTE_WRAPPER, MAX_COMMAND_CHARS } from './wrap.js';
export { quotePs, quotePsArray, psLiteral, encodeCommand } from '../../util/ps-quote.js';
