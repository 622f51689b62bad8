import type { SuiteContext, SuiteResult } from '../lib/suite.js';
export async function xapiSuite(_ctx: SuiteContext): Promise<SuiteResult> {
  return { name: 'xapi', title: 'xapi', markdown: 'TODO', data: {} };
}
