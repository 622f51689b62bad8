// Files + command-line options → a validated project: the playbook, the inventory, and per
// play the hosts it runs on, their variable scope and their rendered step arguments. Nothing
// is contacted; facts and registered values are left as templates for run time.
import { dirname } from 'node:path';
import type { HostSpec, Inventory } from '../model/inventory.js';
import { batchSizes } from '../engine/batches.js';
import type { PlaySpec, Playbook, StepSpec } from '../model/playbook.js';
import type { StepCatalog } from '../steps/catalog.js';
import type { Result } from '../util/result.js';
import { err, ok } from '../util/result.js';
import type { Diagnostic } from './diagnostics.js';
import { argDiagnostic, diagnostic, hasErrors, sortDiagnostics } from './diagnostics.js';
import { parseExtraVars } from './extra-vars.js';
import { loadInventoriesDetailed, resolveInventoryArg } from './inventory.js';
import type { LoadedInventory } from './inventory.js';
import { matchPattern } from './patterns.js';
import { expandShorthand, loadPlaybookDetailed, validateArgs, validatorsFor } from './playbook.js';
import type { LoadedPlaybook } from './playbook.js';
import { didYouMean } from './suggest.js';
import { isSelectedByTags, splitTags } from './tags.js';
import type { Namespace, TemplateError, TemplateScope } from './template.js';
import { quotingContexts, render } from './template.js';
import { hasTemplateText } from '../util/template-text.js';
import { deepFreeze } from '../util/deep-freeze.js';
import { hostVarLayers, mergeVars, resolveVars } from './vars.js';
import { diagAt, diagInScalar, locate, locateInScalar } from './yaml-doc.js';
import type { Path, YamlSource } from './yaml-doc.js';

/** Namespaces only known at run time. */
export const DEFERRED: readonly Namespace[] = ['facts', 'registered'];

export interface LoadProjectOptions {
  playbook: string;
  /** `-i` arguments as given: inventory names (`prod`) or file paths; several merge, later wins */
  inventories: readonly string[];
  /** `-e` arguments as given */
  extraVars?: readonly string[];
  /** `--limit` (several are joined as a union) */
  limit?: string | readonly string[];
  /** `--tags` / `--skip-tags`, each may be comma-separated */
  tags?: readonly string[];
  skipTags?: readonly string[];
  startAtStep?: string;
  /** `-f` as given: every play's forks (hosts at once per batch), instead of the playbook's */
  forks?: string | number;
  registry: StepCatalog;
  /** where `-i NAME` looks for inventories/NAME.yml (default: process.cwd()) */
  cwd?: string;
  /** `run.*` template scope; `id` defaults to a timestamp, `check` to false */
  run?: Record<string, unknown>;
  check?: boolean;
}

/** What one host runs in one play. */
export interface HostPlan {
  host: HostSpec;
  /** template scope at plan time: run, host, vars (facts/registered are added at run time) */
  scope: { run: Record<string, unknown>; host: Record<string, unknown>; vars: Record<string, unknown> };
  /**
   * Rendered arguments, index-aligned with play.steps / play.cleanup. References to facts.* and
   * registered.* are still `{{ }}` templates: render them with src/load/template.ts at run time.
   * Steps not selected (tags, --start-at-step) keep their raw arguments.
   */
  steps: unknown[];
  cleanup: unknown[];
}

export interface ProjectPlay {
  spec: PlaySpec;
  /** matched hosts after --limit, in inventory order */
  hosts: string[];
  /** index-aligned with spec.steps: false = not run (tags, --start-at-step). Cleanup is never filtered. */
  selected: boolean[];
  /** true when --start-at-step names a step of a later play: the engine skips this play entirely */
  skipped: boolean;
  plans: Map<string, HostPlan>;
  /** set when -f gave spec.forks (instead of the playbook) */
  forksFromFlag?: true;
}

export interface PlaySummary {
  name: string;
  hosts: number;
  /** host count per batch, from serial */
  batches: number[];
  steps: number;
  selectedSteps: number;
  cleanup: number;
  skipped: boolean;
  /** hosts at once per batch: the play's, or -f's */
  forks: number;
  /** set when -f gave `forks` */
  forksFromFlag?: true;
}

export interface ProjectSummary {
  plays: PlaySummary[];
  /** distinct hosts over all plays */
  hosts: number;
  /** selected steps over all plays */
  steps: number;
}

export interface Project {
  playbook: Playbook;
  inventory: Inventory;
  extraVars: Record<string, unknown>;
  run: Record<string, unknown>;
  plays: ProjectPlay[];
  /** warnings (e.g. --limit leaves a play without hosts); errors make loadProject fail instead */
  warnings: Diagnostic[];
  summary: ProjectSummary;
}

function defaultRunId(): string {
  return new Date().toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
}

function hostScope(h: HostSpec): Record<string, unknown> {
  const c = h.connection;
  return {
    name: h.name,
    groups: h.groups,
    address: c.address ?? h.name,
    connection: c.type,
    ...(c.port !== undefined ? { port: c.port } : {}),
    ...(c.user !== undefined ? { user: c.user } : {}),
    ...(h.vm ? { vm: { ...h.vm }, pool: h.vm.pool } : {}),
  };
}

/** Per-(position, message) collection so one mistake shared by 500 hosts is one diagnostic. */
class HostErrors {
  private readonly map = new Map<string, { d: Diagnostic; hosts: string[]; of: number }>();
  add(d: Diagnostic, host: string, of: number): void {
    const key = `${d.file}\0${d.line}\0${d.col}\0${d.message}`;
    const e = this.map.get(key);
    if (e) { if (!e.hosts.includes(host)) e.hosts.push(host); }
    else this.map.set(key, { d, hosts: [host], of });
  }
  diagnostics(): Diagnostic[] {
    return [...this.map.values()].map(({ d, hosts, of }) => {
      if (hosts.length >= of) return d;
      const shown = hosts.slice(0, 3).join(', ') + (hosts.length > 3 ? ` (+${hosts.length - 3} more)` : '');
      return { ...d, message: `${d.message} for host${hosts.length > 1 ? 's' : ''} ${shown}` };
    });
  }
}

export function loadProject(opts: LoadProjectOptions): Result<Project, Diagnostic[]> {
  const diags: Diagnostic[] = [];
  const cwd = opts.cwd ?? process.cwd();

  const invPaths: string[] = [];
  if (opts.inventories.length === 0) diags.push(argDiagnostic('-i', '', 1, 'no inventory given: use -i NAME or -i path/to/inventory.yml'));
  for (const arg of opts.inventories) {
    const r = resolveInventoryArg(arg, cwd);
    if (r.ok) invPaths.push(r.value);
    else diags.push(r.error);
  }
  const extra = parseExtraVars(opts.extraVars ?? []);
  if (!extra.ok) diags.push(...extra.error);
  const forks = parseForks(opts.forks);
  if (!forks.ok) diags.push(forks.error);
  const pb = loadPlaybookDetailed(opts.playbook, opts.registry);
  if (!pb.ok) diags.push(...pb.error);
  const inv = invPaths.length > 0 ? loadInventoriesDetailed(invPaths) : undefined;
  if (inv && !inv.ok) diags.push(...inv.error);
  if (!pb.ok || !inv?.ok || !extra.ok || !forks.ok) return err(sortDiagnostics(diags));
  return plan(pb.value, inv.value, extra.value, { ...opts, forks: forks.value }, diags);
}

/** `-f N`: a whole number ≥ 1 (commander hands it over as typed), else a located diagnostic. */
function parseForks(given: string | number | undefined): Result<number | undefined, Diagnostic> {
  if (given === undefined) return ok(undefined);
  const text = String(given);
  const n = /^\s*\d+\s*$/.test(text) ? Number(text) : Number.NaN;
  if (!Number.isSafeInteger(n) || n < 1) return err(argDiagnostic('--forks', text, 1, `'--forks' wants a whole number ≥ 1, not '${text}'`));
  return ok(n);
}

/** `pvrun validate`: the same load, plus the plan summary as text for the CLI to print. */
export function validateOnly(opts: LoadProjectOptions): Result<{ project: Project; summary: ProjectSummary; text: string }, Diagnostic[]> {
  const r = loadProject(opts);
  if (!r.ok) return r;
  return ok({ project: r.value, summary: r.value.summary, text: formatSummary(r.value.summary) });
}

function plan(pb: LoadedPlaybook, li: LoadedInventory, extraVars: Record<string, unknown>, opts: LoadProjectOptions, diags: Diagnostic[]): Result<Project, Diagnostic[]> {
  const { playbook, source: src } = pb;
  const inventory = li.inventory;
  diags.push(...li.warnings);
  const run: Record<string, unknown> = { id: defaultRunId(), playbook: playbook.file, playbook_dir: dirname(playbook.file), check: opts.check ?? false, ...opts.run };

  // --limit: its terms must exist in the inventory (a typo is an error); narrowing a play to
  // nothing is only a warning.
  let limitSet: Set<string> | undefined;
  const limitText = typeof opts.limit === 'string' ? opts.limit : opts.limit && opts.limit.length > 0 ? opts.limit.join(':') : undefined;
  if (limitText !== undefined) {
    const m = matchPattern(limitText, inventory, li.hostOrder);
    for (const p of m.problems) diags.push(argDiagnostic('--limit', limitText, p.offset + 1, p.message));
    limitSet = new Set(m.hosts);
  }

  const tags = splitTags(opts.tags);
  const skipTags = splitTags(opts.skipTags);
  const allTags = new Set(playbook.plays.flatMap((p) => p.steps.flatMap((s) => s.tags)));
  // An unknown tag is an error (issue 20): as a warning, a typo ran only the cleanup steps and
  // reported success. --skip-tags stays lenient: skipping what is not there changes nothing.
  const tagText = tags.join(',');
  let tagCol = 1;
  for (const t of tags) {
    if (!allTags.has(t) && !['all', 'always', 'never'].includes(t)) {
      diags.push(argDiagnostic('--tags', tagText, tagCol, `no step has tag '${t}'${didYouMean(t, allTags)}`));
    }
    tagCol += t.length + 1;
  }

  // --start-at-step: the first step with that name, in playbook order.
  let startPlay = 0;
  let startStep = 0;
  if (opts.startAtStep !== undefined) {
    const name = opts.startAtStep;
    const pi = playbook.plays.findIndex((p) => p.steps.some((s) => s.name === name));
    if (pi < 0) {
      const names = playbook.plays.flatMap((p) => p.steps.map((s) => s.name));
      diags.push(argDiagnostic('--start-at-step', name, 1, `no step named '${name}'${didYouMean(name, names)}`));
    } else {
      startPlay = pi;
      startStep = playbook.plays[pi]!.steps.findIndex((s) => s.name === name);
    }
  }

  const validators = validatorsFor(opts.registry);
  const plays: ProjectPlay[] = [];
  // -f overrides every play's forks here, so the plan (validate, the journal's plan record) and
  // the engine's plays (engine-plays.ts reads spec.forks) carry the same effective number
  const forksFlag = typeof opts.forks === 'number' ? opts.forks : undefined;
  playbook.plays.forEach((given, pi) => {
    const spec = forksFlag !== undefined ? { ...given, forks: forksFlag } : given;
    const playPath: Path = [pi];
    const skipped = pi < startPlay;
    const selected = spec.steps.map((s, si) => !skipped && !(pi === startPlay && si < startStep) && isSelectedByTags(s, tags, skipTags));

    const m = matchPattern(spec.hosts, inventory, li.hostOrder);
    for (const p of m.problems) {
      const term = spec.hosts.slice(p.offset).split(/[:,]/)[0] ?? '';
      diags.push(diagInScalar(src, [...playPath, 'hosts'], p.offset, term, p.message));
    }
    if (m.problems.length === 0 && m.hosts.length === 0 && !m.dynamic) {
      diags.push(diagAt(src, [...playPath, 'hosts'], `host pattern '${spec.hosts}' matches no hosts`));
    }
    let hosts = m.hosts;
    if (limitSet) {
      hosts = hosts.filter((h) => limitSet!.has(h));
      if (hosts.length === 0 && m.hosts.length > 0) {
        diags.push(diagAt(src, [...playPath, 'hosts'], `--limit '${limitText}' leaves play '${spec.name}' without hosts; it will be skipped`, 'value', 'warning'));
      }
    }

    const plans = new Map<string, HostPlan>();
    // once per play, not per host: the steps whose arguments hold a template
    const templated = new Set([...spec.steps, ...spec.cleanup].filter((st) => hasTemplateText(st.args)));
    // the others' arguments are shared by every host's plan: frozen, so no step can change them
    // for the hosts after it (src/util/deep-freeze.ts)
    for (const st of [...spec.steps, ...spec.cleanup]) if (!templated.has(st)) deepFreeze(st.args);
    const errs = new HostErrors();
    for (const hn of hosts) {
      const host = inventory.hosts[hn]!;
      const hs = hostScope(host);
      const merged = mergeVars(hostVarLayers(spec.vars, inventory, host, extraVars));
      const rv = resolveVars(merged, { run, host: hs }, DEFERRED);
      for (const ve of rv.errors) errs.add(varErrorDiagnostic(ve.label, ve.name, ve.error, pb, li, pi), hn, hosts.length);
      const scope: TemplateScope & HostPlan['scope'] = { run, host: hs, vars: rv.vars };
      const renderSteps = (list: StepSpec[], isSelected: (i: number) => boolean) => list.map((step, si) => {
        // Arguments without a template render to an equal copy that was validated at load
        // (parseStep): no copy, no second validation, per host (issue 17: at 1,000 hosts × 10
        // steps that was 10,000 copies and ajv runs before batch 1).
        if (!isSelected(si) || !templated.has(step)) return step.args;
        const at = pb.argsPath.get(step) ?? [];
        // strings a guest shell runs (script:, unless:, command:) get their templates quoted
        const r = render(step.args, scope, { defer: DEFERRED, contexts: quotingContexts(opts.registry.steps.get(step.type), step.args, host.connection.type) });
        for (const e of r.errors) errs.add(templateDiagnostic(src, at, e), hn, hosts.length);
        if (r.errors.length > 0 || r.value === step.args) return r.value;
        // Rendering can turn a template into a non-string or a shorthand scalar: expand and check again.
        const st = opts.registry.steps.get(step.type);
        if (!st) return r.value;
        const exp = expandShorthand(st, r.value);
        if (!exp.ok) { errs.add(diagAt(src, at, exp.message), hn, hosts.length); return r.value; }
        const found: Diagnostic[] = [];
        validateArgs(st, exp.args, src, at, validators, found);
        for (const d of found) errs.add({ ...d, message: `${d.message} (after rendering templates)` }, hn, hosts.length);
        return exp.args;
      });
      plans.set(hn, {
        host,
        scope,
        steps: renderSteps(spec.steps, (i) => selected[i] === true),
        cleanup: renderSteps(spec.cleanup, () => !skipped),
      });
    }
    diags.push(...errs.diagnostics());
    plays.push({ spec, hosts, selected, skipped, plans, ...(forksFlag !== undefined ? { forksFromFlag: true as const } : {}) });
  });

  const all = sortDiagnostics(diags);
  if (hasErrors(all)) return err(all);
  return ok({ playbook, inventory, extraVars, run, plays, warnings: all, summary: summarize(plays) });
}

function templateDiagnostic(src: YamlSource, base: Path, e: TemplateError): Diagnostic {
  return diagInScalar(src, [...base, ...e.at], e.offset, e.text, e.message);
}

function varErrorDiagnostic(label: string, name: string, e: TemplateError, pb: LoadedPlaybook, li: LoadedInventory, playIndex: number): Diagnostic {
  const [kind, ...rest] = label.split(':');
  const who = rest.join(':');
  const inner: Path = [name, ...e.at];
  let src: YamlSource | undefined;
  let path: Path = [];
  if (kind === 'play') { src = pb.source; path = [playIndex, 'vars', ...inner]; }
  else if (kind === 'group' || kind === 'host') {
    const o = li.origins.get(`${kind}:${who}`);
    if (o) { src = o.src; path = [...o.path, 'vars', ...inner]; }
  }
  if (!src) return argDiagnostic('-e', `${name}=…`, 1, `${e.message} (in -e variable '${name}')`);
  const pos = e.text ? locateInScalar(src, path, e.offset, e.text) : locate(src, path, 'key');
  return diagnostic(pos, e.message, src.lines[pos.line - 1]);
}

function summarize(plays: ProjectPlay[]): ProjectSummary {
  const hosts = new Set<string>();
  let steps = 0;
  const ps = plays.map((p) => {
    for (const h of p.hosts) hosts.add(h);
    const sel = p.selected.filter(Boolean).length;
    steps += sel;
    return {
      name: p.spec.name,
      hosts: p.hosts.length,
      // The engine's own batching, so the summary shows exactly what a run will do.
      batches: batchSizes(p.hosts.length, p.spec.serial),
      steps: p.spec.steps.length,
      selectedSteps: sel,
      cleanup: p.spec.cleanup.length,
      skipped: p.skipped,
      forks: p.spec.forks,
      ...(p.forksFromFlag ? { forksFromFlag: true as const } : {}),
    };
  });
  return { plays: ps, hosts: hosts.size, steps };
}

/** The plan summary `pvrun validate` prints. */
export function formatSummary(s: ProjectSummary): string {
  const lines = s.plays.map((p, i) => {
    const steps = p.selectedSteps === p.steps ? `${p.steps} step${p.steps === 1 ? '' : 's'}` : `${p.selectedSteps} of ${p.steps} steps selected`;
    const batches = p.batches.length === 0 ? 'no batches' : `${p.batches.length} batch${p.batches.length === 1 ? '' : 'es'} [${p.batches.join(', ')}]`;
    return `play ${i + 1} '${p.name}': ${p.skipped ? 'skipped (--start-at-step), ' : ''}${p.hosts} host${p.hosts === 1 ? '' : 's'}, ${batches}, ${steps}${p.cleanup > 0 ? `, ${p.cleanup} cleanup` : ''}${p.forksFromFlag ? `, forks ${p.forks} (-f)` : ''}`;
  });
  lines.push(`valid: ${s.plays.length} play${s.plays.length === 1 ? '' : 's'}, ${s.hosts} host${s.hosts === 1 ? '' : 's'}, ${s.steps} step${s.steps === 1 ? '' : 's'}`);
  return lines.join('\n');
}

