// The shared flow behind `dwf verify` and `dwf <primary>:<selector>`: prepare the plan,
// choose the runtime, then print the plan (--dry-run) or run it and report.
import type { CommandRef } from "../sdk/types.ts";
import type { Runner } from "../core/runner.ts";
import { loadProject, prepare, type Prepared, type PreparedTask, type Project } from "../core/prepare.ts";
import type { RuntimeKind, SharedToolAnswers, ToolProbe } from "../core/runner.ts";
import { executePrepared, type RunReporter, type TaskCacheFactory } from "../core/execute.ts";
import type { ExtensionSource } from "../core/registry.ts";
import { loadConfig, type LoadedConfig } from "../core/config.ts";
import { EXIT, signalExit } from "../lib/errors.ts";
import { requestedProfile, selectRuntime } from "../runtime/select.ts";
import { createTerminalReporter } from "../report/terminal.ts";
import { planJson, resultJson } from "../report/json.ts";
import { renderPlan } from "../report/plan.ts";
import { log } from "../lib/log.ts";
import { accessSync, constants } from "node:fs";
import { ensureCacheRoot, resolveCacheRoot } from "../core/cache-root.ts";
import { RunReaper, reapAbandonedRuns } from "../runtime/reaper.ts";
import type { TaskResult } from "../core/scheduler.ts";
import { writeStdout, writeStderr, isTerminal } from "../lib/out.ts";

export interface RunTasksOptions {
  cwd: string;
  commands: CommandRef[];
  /** What the user asked for, for headers and JSON (`check:pr`, `test:unit`). */
  title: string;
  config?: string;
  profile?: string;
  jobs: number;
  failFast: boolean;
  dryRun: boolean;
  json: boolean;
  verbose: boolean;
  noCache: boolean;
  /** --no-install: never add a stack's setup:deps on its own. */
  noInstall?: boolean;
  /** --remote-cache: off, read or readwrite (default: from devflow.toml and the environment). */
  remoteCache?: string;
  /** --explain: say for each task whether its cached result is shared with other machines, and why. */
  explain?: boolean;
  report?: string;
  /**
   * `dwf warm`: run the commands' warm actions. A failed one is a warning, not a failure: the
   * command itself runs later and reports it.
   */
  warm?: boolean;
}

/** The services a run uses, built by the CLI (wiring.ts) and handed in: the flow names none of them. */
export interface RunServices {
  extensions: ExtensionSource;
  openCache?: TaskCacheFactory;
  /** The image's tool answers on the remote cache, when one is on for this run. */
  sharedTools?: (loaded: LoadedConfig, remote?: string) => Promise<SharedToolAnswers | undefined>;
  reporters?: RunReporter[];
}

/** What the signal handler and the run share. */
interface RunState {
  abort: AbortController;
  interruptedBy?: NodeJS.Signals;
  runner?: Runner;
  reaper: RunReaper;
  stopReporter(): void;
}

export async function runTasks(opts: RunTasksOptions, services: RunServices): Promise<number> {
  // Signals are handled from the start: an image pull or build can be interrupted too.
  // The run's reaper exists from the start too; it records the run once a task starts.
  const state: RunState = { abort: new AbortController(), reaper: new RunReaper(), stopReporter() {} };
  const onSignal = (sig: NodeJS.Signals) => {
    if (state.interruptedBy) {
      // A second Ctrl-C: stop waiting politely.
      void state.runner?.stopAll();
      return;
    }
    state.interruptedBy = sig;
    state.stopReporter();
    writeStderr(`\n${sig === "SIGINT" ? "Interrupted" : sig === "SIGHUP" ? "Hung up" : "Terminated"}: stopping running tasks…\n`);
    state.abort.abort();
  };
  const signals: NodeJS.Signals[] = ["SIGINT", "SIGTERM", "SIGHUP"];
  for (const sig of signals) process.on(sig, onSignal);
  try {
    return await run(opts, services, state);
  } finally {
    // After the summary: removing finished containers need not delay the report.
    await state.runner?.close?.();
    for (const sig of signals) process.off(sig, onSignal);
    await state.reaper.finish();
  }
}

async function run(opts: RunTasksOptions, services: RunServices, state: RunState): Promise<number> {
  const abort = state.abort;
  const interruptedExit = () => signalExit(state.interruptedBy);
  // The project is loaded once, from the file the user chose, and handed to everything below.
  const loaded = loadConfig({ cwd: opts.cwd, explicit: opts.config });
  const profile = requestedProfile(opts.profile, loaded.config);
  const choice = await selectRuntime({
    profile,
    loaded,
    cwd: opts.cwd,
    dryRun: opts.dryRun,
    extensions: services.extensions,
    reaper: state.reaper,
  });
  const project = choice.project ?? (await loadProject({ cwd: opts.cwd, loaded, runtime: choice.kind, extensions: services.extensions }));
  const autoInstall = !opts.noInstall && loaded.config.deps?.install !== false;
  const runner = choice.runner;
  state.runner = runner;
  const cacheRoot = resolveCacheRoot(project.loaded.root, project.loaded.config);
  // Under --no-cache nothing is asked of the remote cache either.
  const shared = runner.toolProbe && !opts.noCache ? await services.sharedTools?.(project.loaded, opts.remoteCache) : undefined;
  const tools = await runner.toolProbe?.(project, cacheRoot, shared);
  const prepared = await planTasks({
    cwd: opts.cwd,
    project,
    commands: opts.commands,
    runtime: choice.kind,
    tools,
    deps: { auto: autoInstall },
    warm: opts.warm,
    dryRun: opts.dryRun,
    signal: abort.signal,
    ready: (p) => runner.prepare?.(p, { dryRun: opts.dryRun }),
  });
  if (abort.signal.aborted) return interruptedExit();
  const commandLine = (t: PreparedTask) => runner.commandLine({ id: t.task.id, action: t.action!, cwd: t.cwd, env: t.env });
  const out = opts.json ? writeStderr : writeStdout;
  if (choice.note) log.info(choice.note);
  if (prepared.implicit && !opts.json) {
    const what = opts.title.startsWith("check:") ? `the default '${opts.title.slice(6)}' profile` : "builtin defaults";
    log.info(
      `No devflow.toml found: detected ${prepared.registry.stacks.map((s) => s.name).join(", ")}, using ${what}. Run 'dwf init' to write one.`,
    );
  }

  // Where extensions' tool lookups were answered: the host, the image, or (a dry run before the image exists) nowhere yet.
  const toolsFrom = !tools ? "host" : tools.settled() ? "image" : "unknown";
  const meta = {
    version: 1,
    command: opts.title,
    runtime: choice.kind,
    tools: toolsFrom,
    root: prepared.loaded.root,
    config: prepared.loaded.path,
    dependencies: prepared.dependencies ?? [],
  };
  if (opts.dryRun) {
    if (opts.json)
      writeStdout(
        JSON.stringify(
          planJson(prepared.tasks, meta, (t) => (t.action ? commandLine(t) : undefined)),
          null,
          2,
        ) + "\n",
      );
    else
      out(
        renderPlan(
          prepared,
          `Plan for ${opts.title} (runtime: ${choice.kind}, ${prepared.tasks.length} task${prepared.tasks.length === 1 ? "" : "s"}, jobs ${opts.jobs})`,
          commandLine,
        ),
      );
    return EXIT.ok;
  }

  if (abort.signal.aborted) return interruptedExit();
  const cacheEnabled =
    !opts.noCache && prepared.loaded.config.cache?.tasks !== false && cacheRootUsable(prepared.cacheRoot, prepared.registry.cacheGroups);
  // Processes of an earlier run killed with -9 are stopped before this one starts its own;
  // this run is recorded (in a cache root dwf made) once it starts a task.
  const recordRoot = cacheEnabled || quietlyUsable(prepared.cacheRoot, prepared.registry.cacheGroups) ? prepared.cacheRoot : undefined;
  if (recordRoot) reapAbandonedRuns(recordRoot);
  state.reaper.recordIn(recordRoot);
  const cache = await services.openCache?.({
    cacheRoot: prepared.cacheRoot,
    enabled: cacheEnabled,
    prepared,
    // A server the tool lookup found unusable was reported then: the run goes on without it.
    remote: shared?.unavailable ? "off" : opts.remoteCache,
    verbose: opts.verbose,
    explain: opts.explain,
  });

  // One task at a time can stream live; parallel tasks print as blocks when they finish.
  const live = !opts.json && (opts.jobs === 1 || prepared.tasks.filter((t) => t.action).length <= 1);
  // Asked when a task starts: an install can give a task its action (or take it) after planning.
  const byId = new Map(prepared.tasks.map((t) => [t.task.id, t]));
  const reporter = createTerminalReporter({
    write: out,
    tty: isTerminal(2) && !process.env.CI && !opts.json,
    verbose: opts.verbose,
    live,
    total: prepared.tasks.length,
  });
  state.stopReporter = () => reporter.stop();

  for (const r of services.reporters ?? []) await r.started?.({ title: opts.title, report: opts.report });
  const started = performance.now();
  let results: TaskResult[];
  try {
    results = await executePrepared(prepared, runner, {
      jobs: opts.jobs,
      failFast: opts.failFast,
      signal: abort.signal,
      events: { ...reporter.events, start: (t) => !byId.get(t.id)?.action || reporter.events.start?.(t) },
      onOutput: live ? (_t, chunk) => reporter.output(chunk) : undefined,
      cache,
    });
  } finally {
    if (abort.signal.aborted) await runner.stopAll();
    reporter.stop();
    // Uploads to a remote cache ran beside the tasks; give them a bounded time to finish.
    if (!abort.signal.aborted) await cache?.flush?.();
  }
  const elapsed = performance.now() - started;
  reporter.summary(results, elapsed);
  let failed = results.some((r) => r.status === "failed");
  if (failed && opts.warm) {
    // An install that failed is still a failure; a warm action is best effort.
    const installs = results.filter((r) => r.status === "failed" && r.task.ref.primary === "setup");
    const warmed = results.filter((r) => r.status === "failed" && r.task.ref.primary !== "setup");
    for (const r of warmed)
      log.warn(`warming ${r.task.id} failed; 'dwf ${r.task.ref.primary}:${r.task.ref.selector}' reports it where it runs.`);
    failed = installs.length > 0;
  }
  // Nothing to warm is no failure: the checks themselves run (and are judged) later.
  const idle = state.interruptedBy || failed || opts.warm ? undefined : nothingRan(opts.commands, prepared, results);
  if (idle) log.error(idle);
  const exitCode = state.interruptedBy ? interruptedExit() : failed || idle ? EXIT.failed : EXIT.ok;
  for (const r of services.reporters ?? []) await r.finished?.({ title: opts.title, report: opts.report, results, exitCode });
  if (opts.json) {
    const doc = resultJson(results, meta);
    writeStdout(
      JSON.stringify({ ...doc, ...(idle ? { ok: false, reason: idle } : {}), exitCode, durationMs: Math.round(elapsed) }, null, 2) + "\n",
    );
  }
  return exitCode;
}

/**
 * A profile written in devflow.toml that checked nothing is not a pass: every task was
 * skipped (no tool, no target, an extension declined), so nothing was verified.
 */
function nothingRan(commands: CommandRef[], prepared: Prepared, results: TaskResult[]): string | undefined {
  const [only] = commands;
  if (commands.length !== 1 || only!.primary !== "check" || prepared.implicit) return undefined;
  const profile = only!.selector;
  if (!prepared.loaded.config.targets?.[profile]) return undefined;
  if (results.some((r) => r.status !== "skipped")) return undefined;
  const why = results.map((r) => `${r.task.id}: ${r.reason ?? "skipped"}`);
  const shown = why.length > 5 ? [...why.slice(0, 5), `and ${why.length - 5} more`] : why;
  return `profile '${profile}' in ${prepared.loaded.path} ran nothing: ${results.length ? `all ${results.length} of its tasks were skipped (${shown.join("; ")})` : "it lists no commands"}. A profile that checks nothing does not pass.`;
}

/** The cache root for dwf's own run records under --no-cache: used when it can be, without a warning. */
function quietlyUsable(cacheRoot: string, groups: string[]): boolean {
  try {
    ensureCacheRoot(cacheRoot, groups);
    accessSync(cacheRoot, constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

interface PlanTasksOptions {
  cwd: string;
  project: Project;
  commands: CommandRef[];
  runtime: RuntimeKind;
  /** Where extensions' which() is answered when not on the host PATH (the image's tool probe). */
  tools?: ToolProbe;
  deps?: { auto: boolean };
  dryRun: boolean;
  signal?: AbortSignal;
  /** Called once with the first plan, before tools are looked up (the container runner collects its cache mounts here). */
  ready?: (prepared: Prepared) => Promise<void> | void;
  /** Say at debug level only that the tools are unknown (the caller says so its own way). */
  quiet?: boolean;
  /** Plan the commands' warm actions instead of the commands (`dwf warm`). */
  warm?: boolean;
}

/**
 * The tasks of a run with their actions, built with the runtime's answers to which(). The one
 * way a plan is made: `dwf verify` (and --dry-run) and `dwf ci plan` both call this, so what CI
 * is shown to run is what a local run in the image runs.
 */
export async function planTasks(o: PlanTasksOptions): Promise<Prepared> {
  const again = () =>
    prepare({
      cwd: o.cwd,
      project: o.project,
      commands: o.commands,
      runtime: o.runtime,
      which: o.tools?.which,
      deps: o.deps,
      warm: o.warm,
    });
  let prepared = await again();
  if (o.signal?.aborted) return prepared;
  await o.ready?.(prepared);
  if (o.tools && !o.signal?.aborted) prepared = await settleTools(o.tools, prepared, again, o.dryRun, o.quiet);
  return prepared;
}

/** A probe for when there is no image to ask (no engine answers): every tool unknown, as a dry run without the image shows it. */
export function unknownTools(): ToolProbe {
  const asked = new Set<string>();
  return {
    which: (program) => (asked.add(program), null),
    pending: () => [...asked],
    settled: () => asked.size === 0,
    probe: async () => false,
  };
}

/**
 * Actions built with the image's tools: extensions asked `which()` while the first plan was
 * built; names the image had not answered yet are looked up in it (one engine run, remembered
 * per fingerprint) and the actions built again, until every answer came from the image. A dry
 * run builds no image: without one, tool-dependent commands are shown as if the tools were absent.
 */
async function settleTools(
  tools: ToolProbe,
  prepared: Prepared,
  again: () => Promise<Prepared>,
  dryRun: boolean,
  quiet = false,
): Promise<Prepared> {
  // A new answer can lead an extension down a branch that asks another name: a few rounds at most.
  for (let round = 0; round < 3 && !tools.settled(); round++) {
    if (!prepared.tasks.some((t) => t.action)) return prepared;
    const asked = tools.pending();
    if (!(await tools.probe({ ifPresent: dryRun }))) {
      (quiet ? log.debug : log.warn)(
        `the image is not built yet, so where it has ${asked.join(", ")} is unknown: commands that depend on them are shown as if it lacked them. Run 'dwf image build' for the exact plan.`,
      );
      return prepared;
    }
    prepared = await again();
  }
  return prepared;
}

/** A read-only checkout or cache folder should not stop the checks: warn and run uncached. */
function cacheRootUsable(cacheRoot: string, groups: string[]): boolean {
  try {
    ensureCacheRoot(cacheRoot, groups);
    accessSync(cacheRoot, constants.W_OK);
    return true;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (!code || !["EACCES", "EPERM", "EROFS", "ENOTDIR", "EEXIST", "ENOSPC"].includes(code)) throw e;
    log.warn(
      `cache folder ${cacheRoot} is not writable (${code}): running without the task cache. Set DWF_CACHE_ROOT or [cache] root to a writable folder.`,
    );
    return false;
  }
}
