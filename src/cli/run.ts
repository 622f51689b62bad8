import { formatDiagnostics, type Diagnostic } from '../load/diagnostics.js';
import { loadProject, validateOnly, type LoadProjectOptions, type Project } from '../load/project.js';
import { inventorySecretRefs, resolveSecret, resolveSecrets, usePromptedBecomePassword } from '../load/secrets.js';
import { formatValidation } from './list.js';
import { redactor, redactText } from '../util/redact.js';
import { EXIT } from '../engine/exit-codes.js';
import type { HostRecap, RunEvent } from '../engine/events.js';
import { Scheduler } from '../engine/scheduler.js';
import { builtinRegistry } from '../steps/registry.js';
import { RuntimeServices } from '../runtime/host-services.js';
import { GuestConnections } from '../runtime/guest-connections.js';
import { startingHosts } from '../engine/batches.js';
import { Journal, stateDir } from '../journal/journal.js';
import { lockRun } from '../journal/lock.js';
import { newRunId } from '../journal/run-id.js';
import { createJsonReporter } from '../report/json.js';
import { createPlainReporter } from '../report/plain.js';
import { humanDisplay } from '../report/display.js';
import { fanout, type Reporter } from '../report/types.js';
import { err, ok, type Result } from '../util/result.js';
import type { Io } from './io.js';
import type { SecretRef } from '../model/secret.js';
import { toEnginePlays } from '../load/engine-plays.js';
import { materializeDynamicGroups } from './dynamic-groups.js';
import { renderAll } from '../load/template.js';
import type { RunFlags } from './program.js';
import type { EngineOptions, EnginePlay } from '../engine/types.js';
import { createJunitReporter, preflightJunit, playbookMapOf } from '../report/junit.js';
import { createGithubReporter, diagnosticAnnotations, preflightAnnotations } from '../report/github.js';
import { formatPreflight, preflight, preflightExitCode, type PreflightReport } from '../runtime/preflight.js';
import { writeFileSync } from 'node:fs';
import { confirmRun } from './confirm.js';
import { resolve as resolvePath } from 'node:path';
import { resolveInventoryArg } from '../load/inventory.js';
import { shardChoice, shardSetup } from '../shard/setup.js';

// loadOptions, printDiagnostics and validateCommand live in validate.ts, which `pvrun validate`
// loads without this file's run machinery (start-up, issue 17)
import { loadOptions, printDiagnostics } from './validate.js';
export { loadOptions, validateCommand } from './validate.js';

/**
 * Every secret the run will need, resolved before anything is contacted, so a missing
 * variable or file is an input error (exit 5) and every value is registered for redaction.
 */
function resolveRunSecrets(project: Project): Result<void, Diagnostic[]> {
  usePromptedBecomePassword(project.inventory); // -K
  const hosts = new Set(project.plays.flatMap((p) => p.hosts));
  const pools = new Set([...hosts].map((h) => project.inventory.hosts[h]?.vm?.pool).filter((p): p is string => !!p));
  const refs = inventorySecretRefs(project.inventory).filter((r) =>
    [...hosts].some((h) => r.what.endsWith(`host '${h}'`)) || [...pools].some((p) => r.what.endsWith(`hypervisor '${p}'`)));
  const r = resolveSecrets(refs);
  return r.ok ? ok(undefined) : err(r.error);
}

async function humanReporter(flags: RunFlags, io: Io): Promise<Reporter> {
  // colour by the terminal's colour support (FORCE_COLOR, NO_COLOR, TERM), live progress by whether it is a terminal (src/report/display.ts)
  const { live, color } = humanDisplay(io.out, io.env);
  const opts = { verbose: flags.verbose, diff: flags.diff, redact: redactText, check: flags.check, color };
  // the live reporter (and log-update) is loaded only for a terminal (start-up, issue 17)
  return live ? (await import('../report/tty.js')).createTtyReporter(io.out, opts) : createPlainReporter(io.out, opts);
}

/** Secrets for the transports; every value was already resolved (and registered) up front. */
const secretResolver = (ref: SecretRef): Result<string, string> => {
  const r = resolveSecret(ref);
  return r.ok ? ok(r.value) : err(r.error.message);
};

/** `pvrun <playbook> -i <inventory>`: the whole run. */
export async function runCommand(playbook: string, flags: RunFlags, io: Io): Promise<number> {
  const r = await runPlaybook(playbook, flags, io);
  // --html: the report from the journal, when the run got as far as writing one
  if (flags.html && r.recap) (await import('./report.js')).reportAfterRun(stateDir(flags.stateDir, io.cwd), r.runId, flags.html, io);
  return r.code;
}

export interface RunOutcome {
  code: number;
  runId: string;
  /** absent when the input was invalid (nothing ran) */
  recap?: HostRecap[];
}

/** A later process on an earlier run (`pvrun resume`, `pvrun rollback`): same run id, same journal. */
export interface Continuation {
  runId: string;
  mode: 'resume' | 'rollback';
  /** the plays narrowed to the hosts this session works on */
  plays(plays: EnginePlay[], project: Project): Promise<EnginePlay[] | string>;
  resume: NonNullable<EngineOptions['resume']>;
  /** hosts a killed process of this run was working on: wait for its leftover commands there */
  leftoversOf?: ReadonlySet<string>;
  /**
   * The session's own exit code from the engine's (a rollback that restored every host is a
   * success, not "some hosts failed"), with lines that explain it. Applied to the run-end event,
   * so the recap, the journal and the process exit all tell the same number.
   */
  exit?(recap: HostRecap[], engineCode: number): { code: number; notes: string[] };
}

/** Loaded, secrets resolved, dynamic groups filled, plays built: what a run or a preflight needs. */
export interface Prepared {
  project: Project;
  plays: EnginePlay[];
}

/** Load and build the plays; an exit code (with its messages printed) when that cannot be done. */
export async function prepareRun(playbook: string, flags: RunFlags, io: Io, runId: string): Promise<Result<Prepared, number>> {
  const loaded = loadProject(loadOptions(playbook, flags, io, { id: runId, check: flags.check, playbook }));
  if (!loaded.ok) {
    printDiagnostics(loaded.error, io);
    return err(EXIT.invalid);
  }
  let project = loaded.value;
  printDiagnostics(project.warnings, io);
  const secrets = resolveRunSecrets(project);
  if (!secrets.ok) {
    printDiagnostics(secrets.error, io);
    return err(EXIT.invalid);
  }
  // Dynamic groups (source: xapi): the files are valid; now ask the pools who is in them.
  const dyn = await materializeDynamicGroups(project.inventory, stateDir(flags.stateDir, io.cwd), runId, secretResolver,
    (m) => io.err.write(`pvrun: warning: ${redactor.redact(m)}\n`));
  if (!dyn.ok) {
    io.err.write(`pvrun: ${redactor.redact(String(dyn.error))}\n`);
    return err(EXIT.unreachable);
  }
  if (dyn.value) {
    const again = loadProject(loadOptions(playbook, { ...flags, inventory: [...flags.inventory, dyn.value] }, io, { id: runId, check: flags.check, playbook }));
    if (!again.ok) {
      printDiagnostics(again.error, io);
      return err(EXIT.invalid);
    }
    project = again.value;
    usePromptedBecomePassword(project.inventory); // -K, for the hosts found on the pools too
  }
  const registry = builtinRegistry();
  // -f went to the loader (loadOptions): the plays carry the effective forks, as the plan does
  const plays = toEnginePlays(project, registry);
  return ok({ project, plays });
}

/**
 * Preflight (src/runtime/preflight.ts) before batch 1: when it finds a problem, nothing starts
 * on any host (no snapshot, no ISO, no journal), and the exit code is its own (4 or 5).
 */
export async function runPreflight(prepared: Prepared, flags: RunFlags, io: Io,
  opts: { quietOk?: boolean; connections?: GuestConnections; keepFor?: ReadonlySet<string> } = {}): Promise<{ code: number; report: PreflightReport }> {
  const report = await preflight({
    inventory: prepared.project.inventory, plays: prepared.plays, resolveSecret: secretResolver,
    ...(opts.connections ? { connections: opts.connections } : {}), ...(opts.keepFor ? { keepFor: opts.keepFor } : {}),
    // in a run, the run itself tells these (as warning events) once it starts
    warn: (m) => { if (!opts.quietOk) io.err.write(`pvrun: warning: ${redactor.redact(m)}\n`); },
  });
  const code = preflightExitCode(report);
  if (code !== EXIT.ok || !opts.quietOk) (code === EXIT.ok ? io.out : io.err).write(formatPreflight(report, (s) => redactor.redact(s)) + '\n');
  if (code !== EXIT.ok) {
    if (io.env['GITHUB_ACTIONS'] === 'true') (flags.json === true ? io.err : io.out).write(preflightAnnotations(report, (s) => redactor.redact(s)));
    if (flags.junit) writeFileSync(flags.junit, preflightJunit(prepared.plays, report, (s) => redactor.redact(s)));
  }
  return { code, report };
}

export async function runPlaybook(playbook: string, flags: RunFlags, io: Io, cont?: Continuation): Promise<RunOutcome> {
  const runId = cont?.runId ?? newRunId();
  // --shard/--rollout values are checked before anything is loaded or contacted
  const sc = shardChoice(flags, io.env);
  if (!sc.ok) { io.err.write(`pvrun: ${sc.error}\n`); return { code: EXIT.invalid, runId }; }
  const prepared = await prepareRun(playbook, flags, io, runId);
  if (!prepared.ok) return { code: prepared.error, runId };
  const { project } = prepared.value;
  let plays = prepared.value.plays;
  // --shard / --rollout (src/shard/): this process's slice of the selected hosts, the rollout's gate
  const shard = shardSetup({ plays, inv: project.inventory, flags, env: io.env, runId, mode: cont?.mode, secrets: secretResolver,
    warn: (message) => emit({ type: 'warning', message, time: new Date().toISOString() }) });
  if (!shard.ok) { io.err.write(`pvrun: ${shard.error}\n`); return { code: EXIT.invalid, runId }; }
  plays = prepared.value.plays = shard.value.plays;
  // The run's guest transports; the preflight makes its handshakes with them and keeps the
  // connections of the hosts that start first open for the run (runtime/guest-connections.ts).
  const connections = new GuestConnections({
    mode: flags.check ? 'check' : 'apply', resolveSecret: secretResolver, runId, debug: flags.verbose >= 3,
  });
  // Not for rollback/resume: they ride out what is down (their own waits), and must not be held back by it.
  if (!cont && !flags.skipPreflight) {
    const pf = await runPreflight(prepared.value, flags, io, { quietOk: true, connections, keepFor: startingHosts(plays) });
    if (pf.code !== EXIT.ok) { await connections.closeAll(); return { code: pf.code, runId }; }
    if (pf.report.notes.length) io.err.write(pf.report.notes.map((n) => `pvrun: preflight: ${n}\n`).join(''));
  }
  // Before anything acts on the run's VMs: one pvrun process per run at a time.
  const lock = lockRun(stateDir(flags.stateDir, io.cwd), runId);
  if (!lock.ok) {
    await connections.closeAll();
    io.err.write(`pvrun${cont ? ` ${cont.mode}` : ''}: run ${runId} is in use by another pvrun process (pid ${lock.pid}); wait for it to end, or stop it first\n`);
    return { code: EXIT.invalid, runId };
  }
  if (cont) {
    const narrowed = await cont.plays(plays, project);
    if (typeof narrowed === 'string') {
      lock.release();
      await connections.closeAll();
      io.err.write(`pvrun ${cont.mode}: ${narrowed}\n`);
      return { code: EXIT.invalid, runId };
    }
    plays = narrowed;
  }
  if (!cont && !(await confirmRun(plays, flags, io))) {
    lock.release();
    await connections.closeAll();
    return { code: EXIT.invalid, runId };
  }

  const redact = redactText;
  const journal = new Journal(stateDir(flags.stateDir, io.cwd), runId, redact);
  if (cont) journal.session(cont.mode);
  else {
    journal.plan({
      playbook: resolvePath(io.cwd, playbook), inventories: flags.inventory.map((a) => { const r = resolveInventoryArg(a, io.cwd); return r.ok ? resolvePath(r.value) : a; }), cwd: io.cwd, check: flags.check,
      ...(flags.limit ? { limit: flags.limit } : {}), ...(flags.tags ? { tags: flags.tags } : {}),
      ...(flags.skipTags ? { skipTags: flags.skipTags } : {}), ...(flags.startAtStep ? { startAtStep: flags.startAtStep } : {}),
      extraVars: flags.extraVars, summary: project.summary, ...shard.value.plan,
    });
  }
  const reporters: Reporter[] = [];
  if (flags.json === true) reporters.push(createJsonReporter(io.out, redact));
  else {
    reporters.push(await humanReporter(flags, io));
    if (typeof flags.json === 'string') reporters.push(createJsonReporter(flags.json, redact));
  }
  // where each step is in the playbook: JUnit step cases and annotations point at its file and line
  const map = playbookMapOf(plays, io.cwd);
  if (flags.junit) reporters.push(createJunitReporter(flags.junit, redact, Date.now, map));
  if (io.env['GITHUB_ACTIONS'] === 'true') // annotations go to stderr when stdout carries the JSON events (the runner reads both)
    reporters.push(createGithubReporter(flags.json === true ? io.err : io.out, io.env['GITHUB_STEP_SUMMARY'], redact, map));
  const reporter = fanout(reporters);
  let finalCode: number | undefined;
  const emit = (ev: RunEvent): void => {
    let e = ev;
    if (e.type === 'run-end' && cont?.exit) {
      const x = cont.exit(e.recap, e.exitCode);
      for (const n of x.notes) io.err.write(`pvrun ${cont.mode}: ${n}\n`);
      e = { ...e, exitCode: x.code };
      finalCode = x.code;
    }
    journal.event(e);
    reporter.event(e);
  };

  const services = new RuntimeServices({
    inventory: project.inventory,
    check: flags.check,
    resolveSecret: secretResolver,
    warn: (message) => emit({ type: 'warning', message, time: new Date().toISOString() }),
    intent: (host, step, intent) => journal.intent(host, step, intent),
    factsSeen: (host, namespace, values) => journal.facts(host, namespace, values),
    runId,
    ...(cont?.leftoversOf ? { leftoversOf: cont.leftoversOf } : {}),
    connections,
    // -vvv: transport debug, as step output of level 3 (redacted and journaled like any output);
    // a preflight handshake's lines wait until the run takes that connection (guest-connections.ts)
    ...(flags.verbose >= 3 ? { debug: (host: string, line: string) => emit({ type: 'step-output', host, step: 'ssh transport', stream: 'log', text: line, level: 3 }) } : {}),
  });
  const scheduler = new Scheduler({
    runId, playbook, inventories: flags.inventory, check: flags.check, diff: flags.diff, verbose: flags.verbose > 0,
    services, render: renderAll, emit, ...(cont ? { resume: cont.resume } : {}), ...shard.value.hooks,
  });
  const onSigint = (): void => scheduler.interrupt();
  process.on('SIGINT', onSigint);
  try {
    const summary = await scheduler.run(plays);
    const note = await shard.value.close(summary.interrupted || summary.gateStopped !== undefined);
    if (note) io.err.write(`pvrun: ${note}\n`);
    return { code: finalCode ?? summary.exitCode, runId, recap: summary.recap };
  } finally {
    process.off('SIGINT', onSigint);
    await services.closeAll();
    await reporter.close();
    journal.close();
    lock.release();
  }
}
