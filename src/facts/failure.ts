/**
 * Why facts could not be read. A subset of the steps' StepFailure (so a step can return it as
 * its own), declared here so that facts depend on the transports only, never on steps/.
 */
import type { ConnectorFailure } from '../connectors/types.js';
import type { HypervisorFailure } from '../hypervisor/types.js';

export type FactFailure =
  | { kind: 'guest'; failure: ConnectorFailure }
  | { kind: 'hypervisor'; failure: HypervisorFailure }
  | { kind: 'step'; message: string };
