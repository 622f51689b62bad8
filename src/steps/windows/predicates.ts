/**
 * Windows predicates for `check:` and `verify:`, read from fresh Windows facts (read-only, so they
 * work in check mode). The facts describe the current boot, so `fresh` needs nothing special.
 */
// each predicate's key, description and schema: src/steps/catalog.ts (read by the loader without this module)
import { windowsPredicateInfos } from '../catalog.js';
import { err, ok, type Result } from '../../util/result.js';
import { parseConstraint } from '../../util/version.js';
import type { CheckPredicate, PredicateOutcome } from '../predicate-types.js';
import type { StepFailure } from '../types.js';
import { windowsFacts } from './common.js';
import { findProduct } from './msi-install.js';
import { TOOLS_PRODUCT_NAMES } from './tools-release.js';

/** "XCP-ng Windows tools": either name the XCP-ng Windows tools have registered under */
const TOOLS_ALIAS = /^xcp-ng windows tools$/i;

const bad = (message: string): Result<PredicateOutcome, StepFailure> => err({ kind: 'config', message });

const pvDriversPresent: CheckPredicate = {
  ...windowsPredicateInfos.pv_drivers_present,
  async evaluate(ctx, expected) {
    if (typeof expected !== 'boolean') return bad('pv_drivers_present: expected true or false');
    const f = await windowsFacts(ctx);
    if (!f.ok) return f;
    const { xenbus, xenvif, xenvbd } = f.value.pv;
    const present = xenbus && xenvif;
    const seen = [xenbus && 'XENBUS', xenvif && 'XENVIF', xenvbd && 'XENVBD'].filter(Boolean).join(', ');
    return ok({ pass: present === expected, actual: seen ? `PV devices present: ${seen}` : 'no PV devices present', expected: expected ? 'XENBUS and XENVIF devices present' : 'no PV drivers' });
  },
};

const toolsInstalled: CheckPredicate = {
  ...windowsPredicateInfos.tools_installed,
  async evaluate(ctx, expected) {
    let product: string | string[] | undefined;
    let version: string | undefined;
    if (typeof expected === 'string') {
      const m = /^(.*?)\s*((?:>=|<=|==|!=|>|<).*)?$/.exec(expected.trim());
      product = m?.[1];
      version = m?.[2];
    } else if (typeof expected === 'object' && expected !== null) {
      ({ product, version } = expected as { product?: string | string[]; version?: string });
    }
    if (!product || product.length === 0) return bad(`tools_installed: cannot read ${JSON.stringify(expected)}`);
    const names: readonly string[] = typeof product === 'string' ? (TOOLS_ALIAS.test(product.trim()) ? TOOLS_PRODUCT_NAMES : [product]) : product;
    if (version !== undefined && !parseConstraint(version)) return bad(`tools_installed: bad version constraint '${version}'`);
    const f = await windowsFacts(ctx);
    if (!f.ok) return f;
    const hit = findProduct(f.value.products, names, version);
    const all = f.value.products.map((p) => `${p.name} ${p.version}`).join(', ');
    return ok({ pass: hit !== undefined, actual: hit ? `${hit.name} ${hit.version}` : all ? `installed: ${all}` : 'no Xen/Citrix products installed', expected: `${names.join(' or ')}${version ? ` ${version}` : ''}` });
  },
};

const serviceRunning: CheckPredicate = {
  ...windowsPredicateInfos.windows_service_running,
  async evaluate(ctx, expected) {
    const names = typeof expected === 'string' ? [expected] : Array.isArray(expected) ? expected.map(String) : undefined;
    if (!names?.length) return bad('windows_service_running: expected a service name or a list');
    const f = await windowsFacts(ctx);
    if (!f.ok) return f;
    const states = names.map((n) => {
      const s = f.value.services.find((x) => x.name.toLowerCase() === n.toLowerCase());
      return { n, status: s?.status ?? 'not installed' };
    });
    return ok({
      pass: states.every((s) => s.status === 'Running'),
      actual: states.map((s) => `${s.n} ${s.status}`).join(', '),
      expected: `${names.join(', ')} Running`,
    });
  },
};

export const windowsPredicates: CheckPredicate[] = [pvDriversPresent, toolsInstalled, serviceRunning];
