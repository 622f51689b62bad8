/**
 * VM facts (`facts.vm.*`): read from XAPI's records by src/hypervisor/vm-facts.ts, which owns the
 * record reading (the steps' VmWatch reads through it too). Here so that every fact namespace has
 * one home: linux.ts, windows.ts, vm.ts.
 */
import type { XapiCaller } from '../hypervisor/types.js';
import { readVmFacts } from '../hypervisor/vm-facts.js';
import { err, ok, type Result } from '../util/result.js';
import type { FactFailure } from './failure.js';

export async function gatherVmFacts(xapi: XapiCaller, ref: string): Promise<Result<Record<string, unknown>, FactFailure>> {
  const f = await readVmFacts(xapi, ref);
  return f.ok ? ok(f.value as unknown as Record<string, unknown>) : err({ kind: 'hypervisor', failure: f.error });
}
