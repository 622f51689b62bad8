import type { StepType } from '../types.js';
import { citrixCleanupStep } from './citrix-cleanup.js';
import { msiInstallStep } from './msi-install.js';
import { nicMigrateStep } from './nic-migrate.js';
import { powershellStep } from './powershell.js';
import { windowsPreconditionsStep } from './preconditions.js';
import { windowsToolsSourceStep } from './tools-source.js';
import { windowsRebootStep } from './windows-reboot.js';

/** Step types for Windows guests (through the ssh-powershell or psremoting connector). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export const windowsSteps: StepType<any>[] = [
  msiInstallStep, nicMigrateStep, citrixCleanupStep, windowsRebootStep, windowsToolsSourceStep, windowsPreconditionsStep, powershellStep,
];
export { windowsPredicates } from './predicates.js';
export { msiInstallStep, nicMigrateStep, citrixCleanupStep, windowsRebootStep, windowsToolsSourceStep, windowsPreconditionsStep, powershellStep };
export { REBOOT_REQUIRED } from './common.js';
