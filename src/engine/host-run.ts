import type { HostSpec } from '../model/inventory.js';
import { touchesGuest } from '../steps/types.js';
import type { ApplyResult, PlanResult, StepContext, StepFailure } from '../steps/types.js';
import { isUnreachable } from '../connectors/types.js';
import type { HostOutcome, HostRecap, RollbackMode, StepPhase, StepStatus } from './events.js';
import { HostFacts, factNamespaces, templatePaths } from './facts.js';
import type { RunControl } from './control.js';
import type { EngineOptions, EnginePlay, EngineStep } from './types.js';
import { evaluateWhen, predicatePaths } from './when.js';
import { describeFailure } from './failure-text.js';
import { readOnlyConnector, readOnlyVm } from './read-only-views.js';
import { ok } from '../util/result.js';
import { ridingVm } from './outage-riding.js';

/** how long a rollback's undo steps wait out a pool outage before giving up */
const ROLLBACK_RIDE_MS = 10 * 60_000;

/** Default per-step limit when a playbook sets none: long enough for installers, not forever. */
const DEFAULT_STEP_TIMEOUT_MS = 30 * 60_000;

interface AppliedStep {
  step: EngineStep;
  args: unknown;
  token: unknown;
}

interface StepRun {
  status: StepStatus;
  summary: string;
  /** set when the host cannot go on */
  fatal: boolean;
  /** the host ends here without error (check … otherwise: skip-host) */
  skipHost?: boolean;
  unreachable?: boolean;
}

/**
 * Runs one host through a play: steps in order, then on failure the rollback policy, then the
 * cleanup steps, and returns its recap. Never throws for expected failures; a thrown error
 * from a step is a bug in that step and is reported as the step's failure.
 */
export class HostRun {
  private readonly registered: Record<string, unknown> = {};
  /** check mode: registers of steps that were only predicted, so their output does not exist */
  private readonly predictedOnly = new Set<string>();
  private readonly applied: AppliedStep[] = [];
  private readonly state = new Map<string, unknown>();
  private readonly facts: HostFacts;
  private readonly counts = { ok: 0, changed: 0, failed: 0, skipped: 0, unreachable: 0 };
  /** name of the first step that check mode predicted would change */
  private firstPredictedChange: string | undefined;
  private guestUnreachable = false;
  /** a second SIGINT: the step it came during, and the step whose apply it cut short */
  private abortedStep: string | undefined;
  private cutShort: string | undefined;
  /** resumed: the index of the step cut short while applying (HostResume.gatePassed) */
  private gatePassed: number | undefined;
  /** the guest connection was opened and verified (host key, login) before the first change */
  private guestGatePassed = false;
  /**
   * For each guest-side apply that started (and did not report "no change"): how many entries
   * `applied` had then. One after the restore point means the guest may have changed since it.
   */
  private readonly guestApplies: number[] = [];
  /** resumed from a source that does not list every apply (snapshot markers): assume the guest changed */
  private guestChangesUnknown = false;
  private currentCtx: StepContext | undefined;
  currentStep: string | undefined;

  constructor(
    private readonly play: EnginePlay,
    private readonly host: HostSpec,
    private readonly opts: EngineOptions,
    private readonly control: RunControl,
  ) {
    this.facts = new HostFacts(opts.services, host, () => this.currentCtx ?? this.makeCtx(control.abortSignal, 'facts'));
  }

  private now(): string {
    return (this.opts.now?.() ?? new Date()).toISOString();
  }

  async run(): Promise<HostRecap> {
    const { emit } = this.opts;
    emit({ type: 'host-start', host: this.host.name, time: this.now() });
    let failure: { step: string; reason: string; unreachable: boolean } | undefined;
    let skipReason: string | undefined;
    const resume = this.opts.resume?.(this.play.name, this.host.name);
    if (resume) {
      this.restoreApplied(resume);
      this.gatePassed = resume.gatePassed;
      if (resume.facts) this.facts.seed(resume.facts);
      this.guestChangesUnknown = resume.appliesKnown !== true && resume.applied.length > 0;
    }
    if (resume?.rollback !== undefined) failure = { step: '(rollback)', reason: resume.rollback, unreachable: false };

    for (const [index, step] of this.play.steps.entries()) {
      if (failure) break;
      if (resume && index < resume.startIndex) continue;
      if (!step.selected) continue;
      if (this.control.aborted) break;
      if (this.control.stopping) {
        failure = { step: step.spec.name, reason: 'interrupted before this step (SIGINT)', unreachable: false };
        break;
      }
      const r = await this.runStep(step, index, 'main', true);
      if (this.control.aborted) break;
      if (r.skipHost) {
        skipReason = r.summary;
        break;
      }
      if (r.fatal) {
        failure = { step: step.spec.name, reason: r.summary, unreachable: r.unreachable ?? false };
        break;
      }
    }

    if (this.control.aborted) return this.finishAborted();

    let rolledBack = false;
    let rollbackFailed = false;
    let rollbackMode: RollbackMode | undefined;
    let attention: string | undefined;
    if (failure && !this.opts.check) {
      if (this.applied.length === 0 && resume?.rollback === undefined) {
        // nothing was changed on this host (e.g. the guest was refused before the first change):
        // there is nothing to roll back
      } else if (this.play.onFailure === 'rollback' || resume?.rollback !== undefined) {
        const rb = await this.rollback(failure.reason);
        rolledBack = rb.ok && rb.undone > 0;
        rollbackFailed = !rb.ok;
        // said only of a clean rollback: an incomplete one is told by its attention text
        if (rolledBack) rollbackMode = rb.mode;
        attention = rb.attention;
      } else {
        attention = this.leftAsIsText(failure.step);
      }
    }

    const cleanupFailed = await this.runCleanup();
    if (cleanupFailed.length > 0) {
      const text = `cleanup step(s) failed: ${cleanupFailed.join('; ')}`;
      attention = attention ? `${attention}; ${text}` : text;
    }
    await this.opts.services.release?.(this.host);

    let outcome: HostOutcome;
    // A host restored to its snapshot is in a known, clean state even if it was unreachable
    // on the way (a reboot that never came back): it is reported rolled back, with the reason.
    if (rollbackFailed) outcome = 'needs-attention';
    else if (failure && rolledBack) outcome = 'rolled-back';
    else if (failure?.unreachable || (failure && this.guestUnreachable)) outcome = 'unreachable';
    else if (failure || cleanupFailed.length > 0) outcome = 'failed';
    else if (skipReason !== undefined && this.counts.changed === 0) outcome = 'skipped';
    else outcome = this.counts.changed > 0 ? 'changed' : 'ok';

    const recap: HostRecap = {
      host: this.host.name,
      outcome,
      ...this.counts,
      rolled_back: rolledBack,
      ...(rollbackMode ? { rollback_mode: rollbackMode } : {}),
      ...(failure ? { reason: `${failure.step}: ${failure.reason}` } : skipReason ? { reason: skipReason } : {}),
      ...(attention ? { attention } : {}),
    };
    emit({ type: 'host-end', host: this.host.name, recap, time: this.now() });
    return recap;
  }

  /** What an earlier process applied on this host (from its journal), so rollback can undo it. */
  private restoreApplied(r: { applied: { index: number; token: unknown }[] }): void {
    for (const a of r.applied) {
      const step = this.play.steps[a.index];
      if (!step) continue;
      this.applied.push({ step, args: this.play.hostArgs?.(this.host, 'main', a.index) ?? step.spec.args, token: a.token });
    }
  }

  /** A second SIGINT: nothing more is done on this host; say exactly where it was left. */
  private finishAborted(): HostRecap {
    const where = this.currentStep ?? this.abortedStep ?? 'between steps';
    const changed = this.applied.map((a) => a.step.spec.name).filter((n) => n !== this.cutShort);
    const restore = this.restorePointText();
    // an apply cut short may go on without us (an installer) and finish: it is named, never omitted
    const cut = this.cutShort ? `; cut short: '${this.cutShort}' (its change may be done, half done or still running)` : '';
    const recap: HostRecap = {
      host: this.host.name,
      outcome: this.applied.length > 0 || this.currentStep || this.cutShort ? 'needs-attention' : 'skipped',
      ...this.counts,
      rolled_back: false,
      reason: `aborted by a second SIGINT during '${where}'`,
      attention: `aborted mid-run during '${where}'; applied: ${changed.length ? changed.join(', ') : 'nothing'}${cut}` +
        (restore ? `; ${restore}` : ''),
    };
    this.opts.emit({ type: 'host-end', host: this.host.name, recap, time: this.now() });
    return recap;
  }

  private restorePointText(): string | undefined {
    const rp = [...this.applied].reverse().find((a) => a.step.type.makesRestorePoint);
    if (!rp) return undefined;
    return `restore point from step '${rp.step.spec.name}': ${JSON.stringify(rp.token)} — run \`pvrun rollback ${this.opts.runId} --limit ${this.host.name}\``;
  }

  private leftAsIsText(failedStep: string): string | undefined {
    const changed = this.applied.map((a) => a.step.spec.name);
    if (changed.length === 0) return undefined;
    const restore = this.restorePointText();
    return `left as it is after '${failedStep}' failed (on_failure: ${this.play.onFailure}); changed by: ${changed.join(', ')}` +
      (restore ? `; ${restore}` : '; no restore point was taken');
  }

  private makeCtx(signal: AbortSignal, stepName: string): StepContext {
    const { services } = this.opts;
    const ctx: StepContext = {
      host: this.host,
      check: this.opts.check,
      scope: this.scope(),
      signal,
      facts: this.facts,
      state: this.state,
      guest: async () => {
        const r = await services.guest(this.host);
        if (!r.ok && r.error.kind === 'guest' && isUnreachable(r.error.failure)) this.guestUnreachable = true;
        // reached again (a wait for the guest after a revert or reboot): no longer unreachable
        else if (r.ok) this.guestUnreachable = false;
        return r;
      },
      vm: () => services.vm(this.host),
      log: (line, level) => this.opts.emit({ type: 'step-output', host: this.host.name, step: stepName, stream: 'log', text: line, ...(level === 2 || level === 3 ? { level } : {}) }),
      intent: async (intent) => {
        this.opts.emit({ type: 'intent', host: this.host.name, step: stepName, action: intent.action, detail: intent.detail, time: this.now() });
        await services.intent?.(this.host.name, stepName, intent);
      },
    };
    return ctx;
  }

  /** the context of a step predicted inside a real run: check mode, transports read-only */
  private predictOnlyCtx(base: StepContext): StepContext {
    return {
      ...base,
      check: true,
      guest: async () => {
        const r = await base.guest();
        return r.ok ? ok(readOnlyConnector(r.value)) : r;
      },
      vm: async () => {
        const r = await base.vm();
        return r.ok ? ok(readOnlyVm(r.value)) : r;
      },
    };
  }

  private scope(): Record<string, unknown> {
    return { ...this.play.scope(this.host), facts: this.facts.loaded, registered: this.registered };
  }

  /** Load the fact namespaces that `paths` read; a failure is returned as the step's failure. */
  private async loadFacts(paths: string[]): Promise<StepFailure | undefined> {
    for (const ns of factNamespaces(paths)) {
      const r = await this.facts.get(ns);
      if (!r.ok) return r.error;
    }
    return undefined;
  }

  /** check mode: a reference to the output of a step that was only predicted */
  private predictedRef(paths: string[]): string | undefined {
    for (const p of paths) {
      const m = /^registered\.([A-Za-z0-9_-]+)/.exec(p);
      if (m && this.predictedOnly.has(m[1]!)) return m[1];
    }
    return undefined;
  }

  private async runStep(step: EngineStep, index: number, phase: StepPhase, gate = false): Promise<StepRun> {
    const { emit } = this.opts;
    const name = step.spec.name;
    const started = Date.now();
    this.currentStep = name;
    emit({ type: 'step-start', host: this.host.name, step: name, stepType: step.spec.type, index, phase, time: this.now() });
    const appliedBefore = this.applied.length;
    const r = await this.evaluateStep(step, this.play.hostArgs?.(this.host, phase, index) ?? step.spec.args, gate ? index : undefined);
    this.currentStep = undefined;
    // the undo token goes into the step's result event, so the journal can hand it to `pvrun rollback`
    const token = this.applied.length > appliedBefore ? this.applied.at(-1)?.token : undefined;
    this.count(r.status);
    const diff = this.opts.diff ? this.lastDiff : undefined;
    this.lastDiff = undefined;
    emit({
      type: 'step-result', host: this.host.name, step: name, stepType: step.spec.type, index, phase,
      status: r.status, summary: r.summary, ...(diff ? { diff } : {}), durationMs: Date.now() - started, time: this.now(),
      ...(token !== undefined ? { undo: token } : {}),
    });
    return r;
  }

  private lastDiff: string | undefined;

  private count(s: StepStatus): void {
    switch (s) {
      case 'ok': this.counts.ok++; break;
      case 'changed': case 'would-change': this.counts.changed++; break;
      case 'failed': case 'would-fail': this.counts.failed++; break;
      case 'skipped': case 'unknown': this.counts.skipped++; break;
      case 'unreachable': this.counts.unreachable++; break;
    }
  }

  /** `mainIndex`: a main step's index (the guest gate looks at the steps from there on) */
  private async evaluateStep(step: EngineStep, rawArgs: unknown, mainIndex?: number): Promise<StepRun> {
    const spec = step.spec;
    const check = this.opts.check || spec.checkMode === true;
    const register = (status: StepStatus, summary: string, data?: Record<string, unknown>): void => {
      if (!spec.register) return;
      this.registered[spec.register] = {
        status, summary,
        changed: status === 'changed',
        failed: status === 'failed',
        skipped: status === 'skipped',
        ...data,
      };
      if (check && status !== 'ok' && status !== 'skipped') this.predictedOnly.add(spec.register);
    };

    // `when`: facts it reads are gathered first; registers of predicted-only steps make it unknowable.
    const whenPaths = predicatePaths(spec.when);
    if (check) {
      const dep = this.predictedRef(whenPaths);
      if (dep) return this.unknown(spec.register, `depends on the result of '${dep}', which check mode did not run`);
    }
    // resumed at the step the killed process was applying (HostResume.gatePassed): a reboot is
    // finished whatever `when` says now; any other step's `when` reads facts gathered now, so a
    // guard sees what the cut apply already did (the other steps read the run's own facts)
    const cut = mainIndex !== undefined && mainIndex === this.gatePassed;
    if (cut) this.gatePassed = undefined;
    const again = cut && step.type.resumeCutApply === 'again';
    if (cut && spec.when.length > 0) {
      this.opts.emit({ type: 'step-output', host: this.host.name, step: spec.name, stream: 'log',
        text: again ? 'resumed: this step was cut short while applying; it runs again (its `when` held when it started)' : 'resumed: this step was cut short while applying; its `when` reads facts gathered now' });
    }
    let scope = this.scope();
    let whenFail: StepFailure | undefined;
    if (cut && !again) {
      const fresh = await this.facts.fresh(factNamespaces(whenPaths));
      if (fresh.ok) scope = { ...scope, facts: { ...this.facts.loaded, ...fresh.value } };
      else whenFail = fresh.error;
    } else if (!again) whenFail = await this.loadFacts(whenPaths);
    if (whenFail) return this.failed(spec, describeFailure(whenFail), isUnreachableFailure(whenFail));
    const w = again ? { pass: true as const } : evaluateWhen(spec.when, scope);
    if (!w.pass) {
      register('skipped', `skipped: ${w.why}`);
      return { status: 'skipped', summary: `skipped: ${w.why}`, fatal: false };
    }

    // Deferred templates (facts.*, registered.*) are rendered now that the values exist.
    const argPaths = templatePaths(rawArgs);
    if (check) {
      const dep = this.predictedRef(argPaths);
      if (dep) return this.unknown(spec.register, `depends on the output of '${dep}', which check mode did not run`);
    }
    const argFail = await this.loadFacts(argPaths);
    if (argFail) return this.failed(spec, describeFailure(argFail), isUnreachableFailure(argFail));
    const rendered = this.opts.render(rawArgs, this.scope());
    if (!rendered.ok) return this.failed(spec, rendered.error.message, false);
    const args = rendered.value;

    const attempts = Math.max(0, spec.retries) + 1;
    let last: StepRun = { status: 'failed', summary: 'not run', fatal: true };
    for (let attempt = 1; attempt <= attempts; attempt++) {
      if (attempt > 1) {
        this.opts.emit({ type: 'step-output', host: this.host.name, step: spec.name, stream: 'log', text: `retry ${attempt - 1}/${spec.retries} after: ${last.summary}` });
        if (!(await sleep(spec.delayMs, this.control.abortSignal))) break;
      }
      last = await this.attempt(step, args, check, mainIndex);
      if (!last.fatal || last.skipHost || this.control.aborted) break;
    }
    if (last.status === 'failed' && spec.ignoreErrors) {
      register('failed', last.summary);
      return { ...last, fatal: false, summary: `${last.summary} (ignored)` };
    }
    if (!(check && this.predictedOnly.has(spec.register ?? '\0'))) register(last.status, last.summary, this.lastData);
    this.lastData = undefined;
    return last;
  }

  private lastData: Record<string, unknown> | undefined;

  private unknown(reg: string | undefined, why: string): StepRun {
    if (reg) this.predictedOnly.add(reg);
    return { status: 'unknown', summary: why, fatal: false };
  }

  private failed(spec: { ignoreErrors: boolean }, reason: string, unreachable: boolean): StepRun {
    if (unreachable) return { status: 'unreachable', summary: reason, fatal: true, unreachable: true };
    return { status: 'failed', summary: reason, fatal: !spec.ignoreErrors };
  }

  /** One try of plan (and apply outside check mode), under the step's timeout. */
  private async attempt(step: EngineStep, args: unknown, check: boolean, mainIndex?: number): Promise<StepRun> {
    const spec = step.spec;
    const timeoutMs = spec.timeoutMs ?? DEFAULT_STEP_TIMEOUT_MS;
    const ac = new AbortController();
    const onAbort = (): void => ac.abort(this.control.abortSignal.reason);
    this.control.abortSignal.addEventListener('abort', onAbort, { once: true });
    const timer = setTimeout(() => ac.abort(new Error('timeout')), timeoutMs);
    // a step with `check_mode: true` is predicted in a real run too: its plan() sees check mode
    // (e.g. does not run user-written guards) and gets read-only views of the run's writable
    // connector and XAPI session, so a step that forgets to look at ctx.check changes nothing
    const ctx = check && !this.opts.check ? this.predictOnlyCtx(this.makeCtx(ac.signal, spec.name)) : this.makeCtx(ac.signal, spec.name);
    this.currentCtx = ctx;
    try {
      const planned = await race(() => step.type.plan(ctx, args), ac.signal);
      if (planned === ABORTED) return this.abortedRun(timeoutMs);
      if (planned instanceof Error) return { status: 'failed', summary: `bug in step '${spec.type}' plan(): ${planned.message}`, fatal: true };
      const p: PlanResult = planned;
      if (p.kind === 'change' && p.diff) this.lastDiff = p.diff;
      if (check) return this.predicted(p, spec.name, spec.register);
      switch (p.kind) {
        case 'ok': return { status: 'ok', summary: p.summary, fatal: false };
        case 'skip-host': return { status: 'skipped', summary: p.reason, fatal: false, skipHost: true };
        case 'fail': return { status: p.unreachable || this.guestUnreachable ? 'unreachable' : 'failed', summary: p.reason, fatal: true, unreachable: p.unreachable || this.guestUnreachable };
        // only check mode may leave a prediction open; a real run must decide
        case 'unknown': return { status: 'failed', summary: `bug in step '${spec.type}' plan(): unknown outside check mode (${p.reason})`, fatal: true };
        case 'change': break;
      }
      // Before the first change on this host: the guest the play goes on to use answers and is
      // the one we know (host key, login). Otherwise nothing is changed at all: no snapshot, no ISO.
      if (mainIndex !== undefined) {
        const refused = await this.guestGate(ctx, mainIndex);
        if (refused) return refused;
      }
      // Durable before anything changes: a crash from here on may leave this step half done.
      await ctx.intent({ action: 'step.apply', detail: { stepType: spec.type } });
      const appliedBefore = this.applied.length;
      const appliedRes = await race(() => step.type.apply(ctx, args, p), ac.signal);
      // a guest-side apply that may have changed the guest (a failed or cut-short one too)
      if (touchesGuest(step.type) && !(typeof appliedRes === 'object' && !(appliedRes instanceof Error) && appliedRes.kind === 'ok')) {
        this.guestApplies.push(appliedBefore);
      }
      if (appliedRes === ABORTED) return this.abortedRun(timeoutMs, step, args);
      if (appliedRes instanceof Error) {
        // The step may have changed something before it threw; keep it undoable if it can be.
        if (step.type.undo) this.applied.push({ step, args, token: undefined });
        return { status: 'failed', summary: `bug in step '${spec.type}' apply(): ${appliedRes.message}`, fatal: true };
      }
      return this.recordApply(step, args, appliedRes);
    } finally {
      clearTimeout(timer);
      this.control.abortSignal.removeEventListener('abort', onAbort);
      this.currentCtx = undefined;
    }
  }

  /**
   * The guest gate: once per host, before its first apply, when this or a later selected main
   * step works on the guest. Opening the connection verifies the host key and logs in (read-only,
   * and the connection is the one the steps reuse). undefined: go on.
   */
  private async guestGate(ctx: StepContext, fromIndex: number): Promise<StepRun | undefined> {
    if (this.guestGatePassed) return undefined;
    // an earlier process already changed this host (pvrun resume): the gate guards the first
    // change only, and a guest still booting after a cut-short reboot is the steps' to wait for
    if (this.applied.length > 0) return undefined;
    const usesGuest = this.play.steps.slice(fromIndex).some((s) => s.selected && (s.type.needs === 'guest' || s.type.needs === 'both' || touchesGuest(s.type)));
    if (!usesGuest) return undefined;
    const g = await ctx.guest();
    if (g.ok) {
      this.guestGatePassed = true;
      return undefined;
    }
    const unreachable = isUnreachableFailure(g.error);
    const summary = `the guest cannot be used, so nothing was changed on this host: ${describeFailure(g.error)}`;
    return { status: unreachable ? 'unreachable' : 'failed', summary, fatal: true, unreachable };
  }

  private abortedRun(timeoutMs: number, step?: EngineStep, args?: unknown): StepRun {
    // An apply cut short may have half-done its change: keep it in the undo list.
    if (step?.type.undo) this.applied.push({ step, args, token: undefined });
    if (this.control.aborted) {
      this.abortedStep = this.currentStep;
      if (step) this.cutShort = step.spec.name;
      return { status: 'failed', summary: 'aborted (second SIGINT)', fatal: true };
    }
    return { status: 'failed', summary: `timed out after ${formatMs(timeoutMs)}`, fatal: true };
  }

  private predicted(p: PlanResult, name: string, reg: string | undefined): StepRun {
    switch (p.kind) {
      case 'ok': return { status: 'ok', summary: p.summary, fatal: false };
      case 'change':
        this.firstPredictedChange ??= name;
        if (reg) this.predictedOnly.add(reg);
        return { status: 'would-change', summary: p.summary, fatal: false };
      case 'skip-host': return { status: 'skipped', summary: p.reason, fatal: false, skipHost: true };
      case 'unknown': return this.unknown(reg, p.reason);
      case 'fail':
        if (p.unreachable) return { status: 'unreachable', summary: p.reason, fatal: true, unreachable: true };
        // The prediction may be wrong only because an earlier change was not made (e.g. no CD
        // in the drive because attach-iso was only predicted): say so rather than fail.
        if (this.firstPredictedChange) {
          if (reg) this.predictedOnly.add(reg);
          return { status: 'unknown', summary: `cannot predict: depends on '${this.firstPredictedChange}', not applied in check mode (${p.reason})`, fatal: false };
        }
        return { status: 'would-fail', summary: p.reason, fatal: true };
    }
  }

  private recordApply(step: EngineStep, args: unknown, a: ApplyResult): StepRun {
    switch (a.kind) {
      case 'changed':
      case 'ok':
        if (a.kind === 'changed' && step.type.undo) this.applied.push({ step, args, token: a.undo });
        else if (a.kind === 'changed') this.applied.push({ step, args, token: undefined });
        this.lastData = a.data;
        return { status: a.kind, summary: a.summary, fatal: false };
      case 'skip-host':
        return { status: 'skipped', summary: a.reason, fatal: false, skipHost: true };
      case 'failed': {
        this.lastData = a.data;
        const unreachable = a.unreachable === true || this.guestUnreachable;
        return { status: unreachable ? 'unreachable' : 'failed', summary: a.reason, fatal: true, unreachable };
      }
    }
  }

  /**
   * Undo applied steps in reverse. With a restore point (a snapshot), two ways:
   * - something may have changed inside the guest after it (a guest-side apply started, even one
   *   that failed; or the journal does not say): revert to it. That restores the whole VM, so the
   *   undo of steps applied after it is superseded and not attempted (the guest may be
   *   unreachable, and the revert puts back disks, CD drive and VM settings anyway);
   * - nothing was changed inside the guest after it: undo the hypervisor steps after it (eject
   *   the CD, …) and delete the snapshot; the running VM is left alone (no downtime, and what it
   *   wrote meanwhile stays). If one of those undos fails, the snapshot is kept.
   * Steps applied before the restore point are undone either way.
   */
  private async rollback(reason: string): Promise<{ ok: boolean; undone: number; mode: RollbackMode; attention?: string }> {
    const { emit } = this.opts;
    const restoreIdx = findLastIndex(this.applied, (a) => a.step.type.makesRestorePoint === true && a.step.type.undo !== undefined);
    const mode = this.rollbackMode(restoreIdx);
    emit({ type: 'rollback-start', host: this.host.name, reason, mode, time: this.now() });
    // the undo steps ride out a pool outage until then (src/engine/outage-riding.ts)
    const rideUntil = Date.now() + ROLLBACK_RIDE_MS;
    let ok = true;
    let undone = 0;
    let dropped = false;
    const problems: string[] = [];
    for (let i = this.applied.length - 1; i >= 0; i--) {
      const a = this.applied[i]!;
      const name = a.step.spec.name;
      if (mode === 'reverted' && i > restoreIdx) {
        emit({ type: 'rollback-step', host: this.host.name, step: name, ok: true, summary: 'superseded by the revert to the snapshot', time: this.now() });
        continue;
      }
      const drop = mode === 'hypervisor-undone' && i === restoreIdx;
      if (drop && !ok) {
        // an undo after it failed: the snapshot stays as the way back
        emit({ type: 'rollback-step', host: this.host.name, step: name, ok: false, summary: 'snapshot kept (not reverted): an undo after it failed', time: this.now() });
        continue;
      }
      const type = a.step.type;
      const fn = drop ? type.dropRestorePoint : type.undo;
      if (!fn) {
        problems.push(`'${name}' changed the host and has no undo`);
        emit({ type: 'rollback-step', host: this.host.name, step: name, ok: false, summary: 'no undo for this step type: its change stays', time: this.now() });
        ok = false;
        continue;
      }
      const base = this.makeCtx(new AbortController().signal, name);
      const ctx: StepContext = { ...base, vm: () => ridingVm(base.vm, rideUntil, (why) => base.log(`the pool does not answer (${why}): retrying`)) };
      let res;
      try {
        res = await fn.call(type, ctx, a.args, a.token);
      } catch (e) {
        res = { ok: false as const, reason: `bug in ${drop ? 'dropRestorePoint' : 'undo'}(): ${e instanceof Error ? e.message : String(e)}` };
      }
      emit({ type: 'rollback-step', host: this.host.name, step: name, ok: res.ok, summary: res.ok ? res.summary : res.reason, time: this.now() });
      if (res.ok) {
        undone++;
        if (drop) dropped = true;
      } else {
        ok = false;
        problems.push(`${drop ? 'deleting the snapshot of' : 'undo of'} '${name}' failed: ${res.reason}`);
      }
    }
    // a revert changed what the guest and the VM report; an undo of hypervisor steps the VM's
    if (mode === 'hypervisor-undone') this.facts.invalidate('vm');
    else this.facts.invalidate();
    emit({ type: 'rollback-end', host: this.host.name, ok, mode, time: this.now() });
    if (ok) return { ok, undone, mode };
    const restore = dropped ? undefined : this.restorePointText();
    return {
      ok, undone, mode,
      attention: `ROLLBACK INCOMPLETE: ${problems.join('; ')}` + (restore ? `; ${restore}` : dropped ? '' : '; no restore point was taken'),
    };
  }

  /** How to roll back (see rollback()): revert only when the guest may have changed after the restore point. */
  private rollbackMode(restoreIdx: number): RollbackMode {
    if (restoreIdx < 0) return 'undone';
    if (!this.applied[restoreIdx]!.step.type.dropRestorePoint) return 'reverted';
    // the source of a resumed host's applies may not list them all (snapshot markers on a pool)
    if (this.guestChangesUnknown) return 'reverted';
    if (this.guestApplies.some((n) => n > restoreIdx)) return 'reverted';
    // a journal's fold lists guest-side applies that failed or were cut short too
    const after = this.applied.slice(restoreIdx + 1);
    // a step that cannot be undone on its own: the revert is the only way back
    if (after.some((a) => touchesGuest(a.step.type) || !a.step.type.undo)) return 'reverted';
    return 'hypervisor-undone';
  }

  /** Cleanup steps run for every host that started, after success or failure; tags never skip them. */
  private async runCleanup(): Promise<string[]> {
    const failed: string[] = [];
    for (const [index, step] of this.play.cleanup.entries()) {
      if (this.control.aborted) break;
      const r = await this.runStep(step, index, 'cleanup');
      if (r.status === 'failed' || r.status === 'unreachable' || r.status === 'would-fail') failed.push(`${step.spec.name}: ${r.summary}`);
    }
    return failed;
  }
}

const ABORTED = Symbol('aborted');

/** Run fn, but settle as soon as the signal aborts; a thrown error is returned as a value. */
async function race<T>(fn: () => Promise<T>, signal: AbortSignal): Promise<T | typeof ABORTED | Error> {
  if (signal.aborted) return ABORTED;
  return new Promise((resolve) => {
    const onAbort = (): void => resolve(ABORTED);
    signal.addEventListener('abort', onAbort, { once: true });
    fn().then(
      (v) => { signal.removeEventListener('abort', onAbort); resolve(v); },
      (e: unknown) => { signal.removeEventListener('abort', onAbort); resolve(e instanceof Error ? e : new Error(String(e))); },
    );
  });
}

function sleep(ms: number, signal: AbortSignal): Promise<boolean> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve(false);
    const t = setTimeout(() => { signal.removeEventListener('abort', onAbort); resolve(true); }, ms);
    const onAbort = (): void => { clearTimeout(t); resolve(false); };
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

function findLastIndex<T>(xs: T[], f: (x: T) => boolean): number {
  for (let i = xs.length - 1; i >= 0; i--) if (f(xs[i]!)) return i;
  return -1;
}

function isUnreachableFailure(f: StepFailure): boolean {
  return f.kind === 'guest' && isUnreachable(f.failure);
}

export function formatMs(ms: number): string {
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000}h`;
  if (ms % 60_000 === 0) return `${ms / 60_000}m`;
  if (ms % 1000 === 0) return `${ms / 1000}s`;
  return `${ms}ms`;
}

