/** The lab's tools ISO (real ISO 9660 via xorriso) and package repositories: see docs/lab.md. */
export { buildToolsIso, extractIsoCached, kernelHasIso9660, TOOLS_ISO_NAME, TOOLS_ISO_VOLUME, type BuiltToolsIso } from './build.js';
export { buildRepo, GUEST_APT_SOURCE } from './repo.js';
export {
  DEFAULT_TOOLS_VERSION, INSTALL_FAULT_LEFTOVER, PACKAGE_NAME, SERVICE_NAME, type ToolsVersion,
} from './tools-scripts.js';
