// Runs prepared tasks through a runner with the scheduler, wiring cancellation (Ctrl-C,
// SIGTERM), debug tracing of every command line, and the optional task result cache.
import type { Prepared, PreparedTask } from "./prepare.ts";
import type { Runner, RunOutcome } from "./runner.ts";
import { schedule, type SchedulerEvents, type TaskResult, type TaskStatus } from "./scheduler.ts";
import { quoteCommand } from "../lib/shell-quote.ts";
import { createStreamRedactor, redactEnv, redactText, secretValues } from "../lib/redact.ts";
import { debugEnabled, log } from "../lib/log.ts";
import { expectLongWork } from "../lib/jit.ts";
import { dropRecord, InstallInterrupted, readRecord, staleReason, withInstallLock, writeRecord, type InstallGuard } from "./deps.ts";
import { NOT_FOUND_EXIT, notFoundMessage } from "./diagnose.ts";

export interface TaskCacheHit {
  durationMs: number;
  output: string;
  /** Where the result came from; local when unset. */
  origin?: "local" | "remote";
}

/** The task result cache, as the executor sees it. */
export interface TaskCache {
  lookup(t: PreparedTask, runner: Runner): Promise<TaskCacheHit | null>;
  /** Hits among these tasks, by task id: every key computed in one pass. */
  lookupMany(tasks: PreparedTask[], runner: Runner): Promise<Map<string, TaskCacheHit>>;
  /**
   * Keep a passing result; resolves to whether it was kept (false: the tree changed while the
   * task ran). `replayed`: the outcome is a result fetched for this key, not a run just ended.
   */
  store(t: PreparedTask, runner: Runner, outcome: RunOutcome, replayed?: boolean): Promise<boolean | void>;
  /** Forget the keys computed for these tasks (their actions changed after an install). */
  forget?(taskIds: string[]): void;
  /** Inherited variables the key leaves out, so a cacheable task must not see them either. */
  unsetEnv?: readonly string[];
  /** Wait (boundedly) for work still in the background, such as uploads; called once at the end. */
  flush?(): Promise<void>;
}

/** Opens the task cache of one run (local, maybe wrapped by a remote); undefined runs uncached. */
export type TaskCacheFactory = (ctx: {
  cacheRoot: string;
  enabled: boolean;
  prepared?: Prepared;
  remote?: string;
  verbose?: boolean;
  explain?: boolean;
}) => Promise<TaskCache | undefined>;

/** Told when a run starts and ends (the GitHub status, annotations and step summary). */
export interface RunReporter {
  started?(ctx: { title: string; report?: string }): Promise<void>;
  finished?(ctx: { title: string; report?: string; results: TaskResult[]; exitCode: number }): Promise<void>;
}

interface ExecuteOptions {
  jobs: number;
  failFast: boolean;
  signal: AbortSignal;
  events?: SchedulerEvents;
  /** Output callback for streaming (used when only one task runs at a time). */
  onOutput?: (task: PreparedTask, chunk: string) => void;
  cache?: TaskCache;
}

export function debugCommandLine(runner: Runner, t: PreparedTask): string {
  const argv = runner.commandLine({ id: t.task.id, action: t.action!, cwd: t.cwd, env: t.env });
  return redactText(quoteCommand(argv), secretValues(process.env, t.env));
}

export async function executePrepared(prepared: Prepared, runner: Runner, opts: ExecuteOptions): Promise<TaskResult[]> {
  const byId = new Map(prepared.tasks.map((t) => [t.task.id, t]));
  // Every key is fixed when the run starts (the tree is hashed once), so all lookups happen up
  // front, together: hits finish without a job slot, and only misses reach the scheduler's queue.
  const known = new Map<string, RunOutcome & { status: TaskStatus; origin?: "local" | "remote" }>();
  const cache = opts.cache;
  if (cache) {
    const hits = await cache.lookupMany(
      prepared.tasks.filter((t) => t.action && t.cacheable),
      runner,
    );
    for (const [id, hit] of hits)
      known.set(id, { exitCode: 0, output: hit.output, durationMs: hit.durationMs, status: "cached", origin: hit.origin });
  }
  // What a task needs before it can run (the engine, the image) is only got when one will.
  if (prepared.tasks.some((t) => t.action && !known.has(t.task.id))) await runner.start?.();
  return schedule(
    prepared.tasks.map((t) => t.task),
    async (task, signal): Promise<RunOutcome & { status?: TaskStatus; reason?: string }> => {
      const t = byId.get(task.id)!;
      if (!t.action) return { exitCode: 0, output: "", durationMs: 0, status: "skipped", reason: t.skip };
      // A task that really runs: long work may follow.
      expectLongWork();
      if (debugEnabled()) {
        log.debug(`[${task.id}] ${debugCommandLine(runner, t)}`);
        if (Object.keys(t.env).length) log.debug(`[${task.id}] env ${JSON.stringify(redactEnv(t.env))}`);
      }
      const action = t.action;
      const once = async (): Promise<RunOutcome> => {
        // Mask the action's own secret env values too (reporters only know the process env).
        const secrets = secretValues(process.env, t.env);
        const live = createStreamRedactor(secrets);
        const emit = (text: string) => text && opts.onOutput!(t, text);
        const ran = await runner.run({
          id: task.id,
          action,
          cwd: t.cwd,
          env: t.env,
          unset: cache && t.cacheable ? cache.unsetEnv : undefined,
          signal,
          onOutput: opts.onOutput ? (chunk) => emit(live.push(chunk)) : undefined,
        });
        if (opts.onOutput) emit(live.flush());
        const outcome = { ...ran, output: redactText(ran.output, secrets) };
        // The program started (the runner says so otherwise) and something it ran was missing.
        if (outcome.exitCode === NOT_FOUND_EXIT && !outcome.error && !signal.aborted)
          outcome.error = notFoundMessage(outcome.output, runner.kind);
        if (outcome.exitCode === 0 && !signal.aborted && opts.cache && t.cacheable) {
          await opts.cache
            .store(t, runner, outcome)
            .catch((e) => log.debug(`task cache: could not store ${task.id}: ${(e as Error).message}`));
        }
        return outcome;
      };
      if (!t.install) return once();
      const outcome = await install(t, t.install, signal, once);
      if (outcome.exitCode === 0 && !signal.aborted) {
        const changed = (await t.install.refresh?.()) ?? [];
        if (changed.length) {
          log.debug(`dependencies: after the ${t.install.stack} install, the actions of ${changed.join(", ")} changed`);
          cache?.forget?.(changed);
        }
      }
      return outcome;
    },
    { jobs: opts.jobs, failFast: opts.failFast, signal: opts.signal, events: opts.events, known },
  );
}

type Outcome = RunOutcome & { status?: TaskStatus; reason?: string };

/**
 * One install, holding the tree's install lock: after waiting for another run's install, an
 * automatic one re-checks and may find nothing left to do. A passing install is recorded; a
 * failing one forgets the old record (the folders are in an unknown state) and says what it blocks.
 */
async function install(t: PreparedTask, guard: InstallGuard, signal: AbortSignal, run: () => Promise<RunOutcome>): Promise<Outcome> {
  try {
    return await withInstallLock(guard.lockPath, guard.stack, signal, async (): Promise<Outcome> => {
      if (
        guard.automatic &&
        staleReason(guard.root, guard.spec, readRecord(guard.recordPath, guard.stack), guard.environment) === undefined
      ) {
        return { exitCode: 0, output: "", durationMs: 0, status: "skipped", reason: "installed meanwhile by another dwf run" };
      }
      dropRecord(guard);
      const outcome = await run();
      if (signal.aborted) return outcome;
      if (outcome.exitCode === 0 && !outcome.error) {
        await writeRecord(guard, outcome.durationMs);
        return { ...outcome, reason: t.task.reason };
      }
      const why = outcome.error ?? `exit code ${outcome.exitCode}`;
      return {
        ...outcome,
        reason: `installing ${guard.stack} dependencies failed (${why.replace(/\.$/, "")}); tasks that need them do not run`,
      };
    });
  } catch (e) {
    if (e instanceof InstallInterrupted) return { exitCode: 130, output: "", durationMs: 0, status: "cancelled", reason: "interrupted" };
    throw e;
  }
}
