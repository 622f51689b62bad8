/** The lab's container guests: see lab-guests.ts (manager) and docs/lab.md. */
export { LabGuests, type GuestInfo, type LabGuestsOptions } from './lab-guests.js';
export {
  checkSpecs, parseLabDefinition, validateLabDefinition, type GuestFaults, type GuestSpec, type LabDefinition, type ResolvedGuest,
} from './definition.js';
export { checkLabPrereqs, checkStateDirFs, missingTools, probeUnprivileged, REQUIRED_TOOLS } from './prereqs.js';
export { LabHookError, type LabError, type LabErrorKind } from './errors.js';
export { KNOWN_DISTROS, resolveDistro, type DistroIdentity, type PackageFamily } from './distros.js';
export type { GuestPowerState } from './guest.js';
