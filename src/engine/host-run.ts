import type { HostSpec } from '../model/inventory.js';
import { isoNow } from '../util/iso-now.js';
import { touchesGuest } from '../steps/types.js';
import { HostState } from '../steps/state.js';
import type { ApplyResult, PlanResult, ResumedApply, StepContext, StepFailure } from '../steps/types.js';
import { isUnreachable } from '../connectors/types.js';
import type { HostOutcome, HostRecap, RollbackMode, StepPhase, StepStatus } from './events.js';
import { HostFacts, factNamespaces, templatePaths } from './facts.js';
import { hasTemplateText } from '../util/template-text.js';
import type { RunControl } from './control.js';
import type { EngineOptions, EnginePlay, EngineStep, HostResume } from './types.js';
import { evaluateWhen, predicatePaths } from './when.js';
import { failureText } from '../report/failure-text.js';
import { ABORTED, Attempt, DEFAULT_STEP_TIMEOUT_MS, formatMs, sleep } from './attempt.js';
import { CheckModeLedger } from './check-mode.js';
import { AppliedSteps, rollBack, type RollbackOutcome } from './rollback.js';
import { extendContext, makeStepContext, predictOnlyContext } from './step-context.js';
import { failedRun, isUnreachableFailure, type StepRun } from './step-run.js';

/**
 * Runs one host through a play: steps in order, then on failure the rollback policy, then the
 * cleanup steps, and returns its recap. Never throws for expected failures; a thrown error
 * from a step is a bug in that step and is reported as the step's failure.
 */
export class HostRun {
  private readonly registered: Record<string, unknown> = {};
  /** check mode (the run's or a step's `check_mode: true`): what was only predicted */
  private readonly checkLedger = new CheckModeLedger();
  private readonly applied = new AppliedSteps();
  private readonly state = new HostState();
  private readonly facts: HostFacts;
  private readonly counts = { ok: 0, changed: 0, failed: 0, skipped: 0, unreachable: 0 };
  private guestUnreachable = false;
  /** a second SIGINT: the step it came during, and the step whose apply it cut short */
  private abortedStep: string | undefined;
  private cutShort: string | undefined;
  /** resumed: the index of the step cut short while applying (HostResume.gatePassed) */
  private gatePassed: number | undefined;
  /** resumed: what the cut step journaled before the kill (HostResume.cutIntents) */
  private cutIntents: HostResume['cutIntents'];
  /** the guest connection was opened and verified (host key, login) before the first change */
  private guestGatePassed = false;
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
    const t = this.opts.now?.();
    return t ? t.toISOString() : isoNow();
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
      this.cutIntents = resume.cutIntents;
      if (resume.facts) this.facts.seed(resume.facts);
      this.applied.guestChangesUnknown = resume.appliesKnown !== true && resume.applied.length > 0;
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
        const rb: RollbackOutcome = await rollBack(this.applied, {
          host: this.host, runId: this.opts.runId, emit: this.opts.emit, now: () => this.now(),
          context: (signal, name) => this.makeCtx(signal, name),
          invalidateFacts: (ns) => this.facts.invalidate(ns),
        }, failure.reason);
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

  /**
   * What an earlier process applied on this host (from its journal), so rollback can undo it.
   * A journal is a file: each undo token is checked against its step type's `undoToken` before
   * an undo sees it. One that does not pass is dropped, so the undo works as for an apply cut
   * short before it returned its token (a snapshot is found by its markers, a setting by the
   * playbook's arguments, a service is left as it is and said so) — never on a hand-edited value.
   */
  private restoreApplied(r: { applied: { index: number; token: unknown }[] }): void {
    for (const a of r.applied) {
      const step = this.play.steps[a.index];
      if (!step) continue;
      let token = a.token;
      const valid = step.type.undoToken;
      if (token !== undefined && (!valid || !valid(token))) {
        this.opts.emit({
          type: 'step-output', host: this.host.name, step: step.spec.name, stream: 'log',
          text: `the journal's undo record for this step is not one a '${step.spec.type}' step writes: it is not used (undone as for an apply cut short)`,
        });
        token = undefined;
      }
      this.applied.push(step, this.play.hostArgs?.(this.host, 'main', a.index) ?? step.spec.args, token);
    }
  }

  /** A second SIGINT: nothing more is done on this host; say exactly where it was left. */
  private finishAborted(): HostRecap {
    const where = this.currentStep ?? this.abortedStep ?? 'between steps';
    const changed = this.applied.names().filter((n) => n !== this.cutShort);
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
    return this.applied.restorePointText(this.opts.runId, this.host.name);
  }

  private leftAsIsText(failedStep: string): string | undefined {
    const changed = this.applied.names();
    if (changed.length === 0) return undefined;
    const restore = this.restorePointText();
    return `left as it is after '${failedStep}' failed (on_failure: ${this.play.onFailure}); changed by: ${changed.join(', ')}` +
      (restore ? `; ${restore}` : '; no restore point was taken');
  }

  private makeCtx(signal: AbortSignal | (() => AbortSignal), stepName: string, resumed?: ResumedApply): StepContext {
    const ctx = makeStepContext({
      host: this.host,
      check: this.opts.check,
      services: this.opts.services,
      facts: this.facts,
      state: this.state,
      scope: () => this.scope(),
      emit: this.opts.emit,
      now: () => this.now(),
      onGuest: (r) => {
        if (!r.ok && r.error.kind === 'guest' && isUnreachable(r.error.failure)) this.guestUnreachable = true;
        // reached again (a wait for the guest after a revert or reboot): no longer unreachable
        else if (r.ok) this.guestUnreachable = false;
      },
    }, signal, stepName);
    return resumed ? extendContext(ctx, { resumedApply: resumed }) : ctx;
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

  private async runStep(step: EngineStep, index: number, phase: StepPhase, gate = false): Promise<StepRun> {
    const { emit } = this.opts;
    const name = step.spec.name;
    const started = Date.now();
    this.currentStep = name;
    emit({ type: 'step-start', host: this.host.name, step: name, stepType: step.spec.type, index, phase, time: this.now() });
    const r = await this.evaluateStep(step, this.play.hostArgs?.(this.host, phase, index) ?? step.spec.args, gate ? index : undefined);
    this.currentStep = undefined;
    // the undo token goes into the step's result event, so the journal can hand it to `pvrun rollback`
    const token = r.undo;
    this.count(r.status);
    const diff = this.opts.diff ? r.diff : undefined;
    emit({
      type: 'step-result', host: this.host.name, step: name, stepType: step.spec.type, index, phase,
      status: r.status, summary: r.summary, ...(diff ? { diff } : {}), durationMs: Date.now() - started, time: this.now(),
      ...(token !== undefined ? { undo: token } : {}),
    });
    return r;
  }

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
      if (check && status !== 'ok' && status !== 'skipped') this.checkLedger.markPredicted(spec.register);
    };

    // `when`: facts it reads are gathered first; registers of predicted-only steps make it unknowable.
    const whenPaths = predicatePaths(spec.when);
    if (check) {
      const dep = this.checkLedger.predictedRef(whenPaths);
      if (dep) return this.checkLedger.unknown(spec.register, `depends on the result of '${dep}', which check mode did not run`);
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
    // (the template scope is a copy made per use: only made when a `when` or a template needs it)
    let freshScope: Record<string, unknown> | undefined;
    let whenFail: StepFailure | undefined;
    if (cut && !again) {
      const fresh = await this.facts.fresh(factNamespaces(whenPaths));
      if (fresh.ok) freshScope = { ...this.scope(), facts: { ...this.facts.loaded, ...fresh.value } };
      else whenFail = fresh.error;
    } else if (!again) whenFail = await this.loadFacts(whenPaths);
    if (whenFail) return failedRun(spec, failureText(whenFail), isUnreachableFailure(whenFail));
    const w = again || spec.when.length === 0 ? { pass: true as const } : evaluateWhen(spec.when, freshScope ?? this.scope());
    if (!w.pass) {
      register('skipped', `skipped: ${w.why}`);
      return { status: 'skipped', summary: `skipped: ${w.why}`, fatal: false };
    }

    // Deferred templates (facts.*, registered.*) are rendered now that the values exist.
    // Arguments without any `{{` render to themselves: not walked twice more and copied
    // for every host and step (issue 17: most steps' arguments are constant).
    let args = rawArgs;
    if (hasTemplateText(rawArgs)) {
      const argPaths = templatePaths(rawArgs);
      if (check) {
        const dep = this.checkLedger.predictedRef(argPaths);
        if (dep) return this.checkLedger.unknown(spec.register, `depends on the output of '${dep}', which check mode did not run`);
      }
      const argFail = await this.loadFacts(argPaths);
      if (argFail) return failedRun(spec, failureText(argFail), isUnreachableFailure(argFail));
      const rendered = this.opts.render(rawArgs, this.scope());
      if (!rendered.ok) return failedRun(spec, rendered.error.message, false);
      args = rendered.value;
    }

    const attempts = Math.max(0, spec.retries) + 1;
    let last: StepRun = { status: 'failed', summary: 'not run', fatal: true };
    for (let attempt = 1; attempt <= attempts; attempt++) {
      if (attempt > 1) {
        this.opts.emit({ type: 'step-output', host: this.host.name, step: spec.name, stream: 'log', text: `retry ${attempt - 1}/${spec.retries} after: ${last.summary}` });
        if (!(await sleep(spec.delayMs, this.control.abortSignal))) break;
      }
      // the cut apply's own record goes to its first attempt only: a retry follows this process's
      const resumed: ResumedApply | undefined = again && attempt === 1 ? { intents: this.cutIntents ?? [] } : undefined;
      last = await this.attempt(step, args, check, mainIndex, resumed);
      if (!last.fatal || last.skipHost || this.control.aborted) break;
    }
    if (last.status === 'failed' && spec.ignoreErrors) {
      register('failed', last.summary);
      return { ...last, fatal: false, summary: `${last.summary} (ignored)` };
    }
    if (!(check && this.checkLedger.isPredicted(spec.register))) register(last.status, last.summary, last.data);
    return last;
  }

  /** One try of plan (and apply outside check mode), under the step's timeout. */
  private async attempt(step: EngineStep, args: unknown, check: boolean, mainIndex?: number, resumed?: ResumedApply): Promise<StepRun> {
    const spec = step.spec;
    const timeoutMs = spec.timeoutMs ?? DEFAULT_STEP_TIMEOUT_MS;
    const ac = new Attempt(this.control, timeoutMs);
    // a step with `check_mode: true` is predicted in a real run too: its plan() sees check mode
    // (e.g. does not run user-written guards) and gets read-only views of the run's writable
    // connector and XAPI session, so a step that forgets to look at ctx.check changes nothing
    // the try's AbortSignal is made only if the step reads ctx.signal (Attempt)
    const signal = (): AbortSignal => ac.signal;
    const ctx = check && !this.opts.check ? predictOnlyContext(this.makeCtx(signal, spec.name)) : this.makeCtx(signal, spec.name, resumed);
    this.currentCtx = ctx;
    try {
      const planned = await ac.race(() => step.type.plan(ctx, args));
      if (planned === ABORTED) return this.abortedRun(timeoutMs);
      if (planned instanceof Error) return { status: 'failed', summary: `bug in step '${spec.type}' plan(): ${planned.message}`, fatal: true };
      const p: PlanResult = planned;
      if (check) return this.checkLedger.predicted(p, spec.name, spec.register);
      switch (p.kind) {
        case 'ok': return { status: 'ok', summary: p.summary, fatal: false };
        case 'skip-host': return { status: 'skipped', summary: p.reason, fatal: false, skipHost: true };
        case 'fail': return { status: p.unreachable || this.guestUnreachable ? 'unreachable' : 'failed', summary: p.reason, fatal: true, unreachable: p.unreachable || this.guestUnreachable };
        // only check mode may leave a prediction open; a real run must decide
        case 'unknown': return { status: 'failed', summary: `bug in step '${spec.type}' plan(): unknown outside check mode (${p.reason})`, fatal: true };
        case 'change': break;
      }
      const run = await this.applyChange(step, args, p, ctx, ac, timeoutMs, mainIndex);
      // the predicted diff is shown whatever the apply came to (--diff)
      return p.diff ? { ...run, diff: p.diff } : run;
    } finally {
      ac.done();
      this.currentCtx = undefined;
    }
  }

  /** Past a planned change: the guest gate, the journaled intent, apply(), and what it came to. */
  private async applyChange(
    step: EngineStep, args: unknown, p: Extract<PlanResult, { kind: 'change' }>, ctx: StepContext,
    attempt: Attempt, timeoutMs: number, mainIndex: number | undefined,
  ): Promise<StepRun> {
    const spec = step.spec;
    // Before the first change on this host: the guest the play goes on to use answers and is
    // the one we know (host key, login). Otherwise nothing is changed at all: no snapshot, no ISO.
    if (mainIndex !== undefined) {
      const refused = await this.guestGate(ctx, mainIndex);
      if (refused) return refused;
    }
    // Durable before anything changes: a crash from here on may leave this step half done.
    await ctx.intent({ action: 'step.apply', detail: { stepType: spec.type } });
    const appliedBefore = this.applied.length;
    const appliedRes = await attempt.race(() => step.type.apply(ctx, args, p));
    // a guest-side apply that may have changed the guest (a failed or cut-short one too)
    if (touchesGuest(step.type) && !(typeof appliedRes === 'object' && !(appliedRes instanceof Error) && appliedRes.kind === 'ok')) {
      this.applied.guestApplyStarted(appliedBefore);
    }
    if (appliedRes === ABORTED) return this.abortedRun(timeoutMs, step, args);
    if (appliedRes instanceof Error) {
      // The step may have changed something before it threw; keep it undoable if it can be.
      if (step.type.undo) this.applied.push(step, args, undefined);
      return { status: 'failed', summary: `bug in step '${spec.type}' apply(): ${appliedRes.message}`, fatal: true };
    }
    return this.recordApply(step, args, appliedRes);
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
    const summary = `the guest cannot be used, so nothing was changed on this host: ${failureText(g.error)}`;
    return { status: unreachable ? 'unreachable' : 'failed', summary, fatal: true, unreachable };
  }

  private abortedRun(timeoutMs: number, step?: EngineStep, args?: unknown): StepRun {
    // An apply cut short may have half-done its change: keep it in the undo list.
    if (step?.type.undo) this.applied.push(step, args, undefined);
    if (this.control.aborted) {
      this.abortedStep = this.currentStep;
      if (step) this.cutShort = step.spec.name;
      return { status: 'failed', summary: 'aborted (second SIGINT)', fatal: true };
    }
    return { status: 'failed', summary: `timed out after ${formatMs(timeoutMs)}`, fatal: true };
  }

  private recordApply(step: EngineStep, args: unknown, a: ApplyResult): StepRun {
    switch (a.kind) {
      case 'changed':
      case 'ok':
        if (a.kind === 'changed') this.applied.push(step, args, step.type.undo ? a.undo : undefined);
        return {
          status: a.kind, summary: a.summary, fatal: false,
          ...(a.data ? { data: a.data } : {}),
          // the token goes to the journal with the step's result (pvrun rollback reads it there)
          ...(a.kind === 'changed' && step.type.undo && a.undo !== undefined ? { undo: a.undo } : {}),
        };
      case 'skip-host':
        return { status: 'skipped', summary: a.reason, fatal: false, skipHost: true };
      case 'failed': {
        const unreachable = a.unreachable === true || this.guestUnreachable;
        return { status: unreachable ? 'unreachable' : 'failed', summary: a.reason, fatal: true, unreachable, ...(a.data ? { data: a.data } : {}) };
      }
    }
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

