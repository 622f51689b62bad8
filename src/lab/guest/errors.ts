/** Expected failures of the lab, as values (docs/architecture.md). */
export type LabErrorKind =
  | 'not-root'          // the lab needs root here (overlay over / and mounts)
  | 'missing-tool'      // unshare, sshd, xorriso, … not installed
  | 'bad-definition'    // the lab definition (YAML/JSON) is invalid
  | 'unknown-guest'     // no guest with that name or uuid
  | 'bad-power-state'   // e.g. starting a running guest
  | 'boot-failed'       // the namespace/overlay/sshd setup failed; message has the console tail
  | 'timeout'           // waited for something that did not happen
  | 'io';               // a host-side file operation or tool failed

export interface LabError {
  kind: LabErrorKind;
  message: string;
  /** guest name, when the error concerns one guest */
  guest?: string;
}

export const labError = (kind: LabErrorKind, message: string, guest?: string): LabError =>
  guest === undefined ? { kind, message } : { kind, message, guest };

/** Thrown from the SimHooks methods (their contract is Promise<void>): the simulator fails the call. */
export class LabHookError extends Error {
  constructor(readonly error: LabError) {
    super(`lab: ${error.guest ? `${error.guest}: ` : ''}${error.message}`);
    this.name = 'LabHookError';
  }
}
