/** The one failure formatter (src/report/failure-text.ts), as a table: every kind of failure a step can meet. */
import { expect, it } from 'vitest';
import { failureText } from '../../src/report/failure-text.js';
import type { StepFailure } from '../../src/steps/types.js';
import type { HypervisorFailure } from '../../src/hypervisor/types.js';

const table: [StepFailure | HypervisorFailure, string][] = [
  [{ kind: 'guest', failure: { kind: 'unreachable', message: 'connect ECONNREFUSED 127.0.0.1:22' } }, 'unreachable: connect ECONNREFUSED 127.0.0.1:22'],
  [{ kind: 'guest', failure: { kind: 'check-mode-refused', message: 'check mode: not uploading /tmp/x' } }, 'check-mode-refused: check mode: not uploading /tmp/x'],
  [{ kind: 'hypervisor', failure: { kind: 'transport', message: 'pool lab: ECONNRESET' } }, 'pool lab: ECONNRESET'],
  [{ kind: 'step', message: 'probe failed (exit 2): no such file' }, 'probe failed (exit 2): no such file'],
  [{ kind: 'config', message: "host 'h' has no 'vm:'" }, "host 'h' has no 'vm:'"],
  [{ kind: 'vm-not-found', message: 'no VM named web-01 on pool lab' }, 'no VM named web-01 on pool lab'],
  [{ kind: 'read-only', method: 'VM.clean_reboot', message: 'refusing to call VM.clean_reboot' }, 'refusing to call VM.clean_reboot'],
];

it.each(table)('%j → %s', (f, text) => {
  expect(failureText(f)).toBe(text);
});
