// Runs a plan: dependency order, bounded concurrency, fail-fast, cancellation, and an
// optional result cache. Emits events; printing is the reporter's business.
import type { Task } from "./plan.ts";
import type { RunOutcome } from "./runner.ts";

export type TaskStatus = "passed" | "failed" | "skipped" | "cached" | "cancelled";

export interface TaskResult {
  task: Task;
  status: TaskStatus;
  durationMs: number;
  exitCode?: number;
  output: string;
  /** Why it was skipped/cancelled, or the error that stopped it from starting. */
  reason?: string;
  /** For a cached result: which cache it came from (local when unset). */
  origin?: "local" | "remote";
}

/** Statuses in the order summaries list them. */
const STATUS_ORDER: readonly TaskStatus[] = ["passed", "failed", "cached", "skipped", "cancelled"];

/** How many results have each status, every status in summary order (zeros included). */
export function statusCounts(results: TaskResult[]): [TaskStatus, number][] {
  const n = new Map<TaskStatus, number>();
  for (const r of results) n.set(r.status, (n.get(r.status) ?? 0) + 1);
  return STATUS_ORDER.map((s) => [s, n.get(s) ?? 0]);
}

export interface SchedulerEvents {
  start?(task: Task): void;
  finish?(result: TaskResult): void;
}

/** Executes one task; resolves to an outcome. Receives the run's abort signal. */
type Execute = (task: Task, signal: AbortSignal) => Promise<RunOutcome & { status?: TaskStatus; reason?: string }>;

interface ScheduleOptions {
  jobs: number;
  failFast: boolean;
  /** Aborted on Ctrl-C/SIGTERM: running tasks are killed, the rest cancelled. */
  signal: AbortSignal;
  events?: SchedulerEvents;
  /**
   * Outcomes known before the run (cache hits): such a task finishes as soon as its
   * dependencies have, without a start event or a job slot; a failed dependency still blocks it.
   */
  known?: ReadonlyMap<string, RunOutcome & { status?: TaskStatus; origin?: "local" | "remote" }>;
}

export async function schedule(tasks: Task[], execute: Execute, opts: ScheduleOptions): Promise<TaskResult[]> {
  const results = new Map<string, TaskResult>();
  const pending = new Set(tasks.map((t) => t.id));
  const running = new Map<string, Promise<void>>();
  const failFast = new AbortController();
  const stop = AbortSignal.any([opts.signal, failFast.signal]);
  const byId = new Map(tasks.map((t) => [t.id, t]));
  const running_stacks = new Map<string, number>();
  const exclusiveRunning = new Set<string>();

  const finish = (r: TaskResult) => {
    results.set(r.task.id, r);
    pending.delete(r.task.id);
    opts.events?.finish?.(r);
  };

  const blockedBy = (t: Task): TaskResult | undefined =>
    t.deps
      .map((d) => results.get(d))
      .find((r) => r && (r.status === "failed" || r.status === "cancelled" || (r.status === "skipped" && r.reason?.startsWith("blocked"))));

  const canStart = (t: Task) => {
    if (!t.deps.every((d) => results.has(d))) return false;
    // A mutating task never runs beside another task of its stack, and vice versa.
    if (exclusiveRunning.has(t.stack)) return false;
    if (t.exclusive && (running_stacks.get(t.stack) ?? 0) > 0) return false;
    return true;
  };

  const launch = (t: Task) => {
    pending.delete(t.id);
    running_stacks.set(t.stack, (running_stacks.get(t.stack) ?? 0) + 1);
    if (t.exclusive) exclusiveRunning.add(t.stack);
    opts.events?.start?.(t);
    const p = (async () => {
      let r: TaskResult;
      try {
        const o = await execute(t, stop);
        // A task stopped by the cancellation is cancelled, whatever its exit code (a program
        // may exit 0 on SIGTERM): never "passed … — cancelled".
        const cancelled = stop.aborted && (o.exitCode !== 0 || o.error === "cancelled");
        const status: TaskStatus = o.status ?? (cancelled ? "cancelled" : o.exitCode === 0 ? "passed" : "failed");
        r = { task: t, status, durationMs: o.durationMs, exitCode: o.exitCode, output: o.output, reason: o.reason ?? o.error };
      } catch (e) {
        r = { task: t, status: "failed", durationMs: 0, output: "", reason: (e as Error).message };
      }
      running.delete(t.id);
      running_stacks.set(t.stack, (running_stacks.get(t.stack) ?? 1) - 1);
      if (t.exclusive) exclusiveRunning.delete(t.stack);
      finish(r);
      if (r.status === "failed" && opts.failFast) failFast.abort();
    })();
    running.set(t.id, p);
  };

  while (pending.size > 0 || running.size > 0) {
    if (stop.aborted) {
      for (const id of [...pending]) {
        const why = opts.signal.aborted ? "interrupted" : "cancelled by --fail-fast";
        finish({ task: byId.get(id)!, status: "cancelled", durationMs: 0, output: "", reason: why });
      }
    } else {
      for (const id of [...pending]) {
        const t = byId.get(id)!;
        const blocker = blockedBy(t);
        if (blocker) {
          finish({ task: t, status: "skipped", durationMs: 0, output: "", reason: `blocked: ${blocker.task.id} ${blocker.status}` });
          continue;
        }
        const known = opts.known?.get(id);
        if (known && t.deps.every((d) => results.has(d))) {
          finish({
            task: t,
            status: known.status ?? "passed",
            durationMs: known.durationMs,
            exitCode: known.exitCode,
            output: known.output,
            ...(known.origin ? { origin: known.origin } : {}),
          });
          continue;
        }
        if (running.size >= opts.jobs) continue;
        if (canStart(t)) launch(t);
      }
    }
    if (running.size === 0) {
      if (pending.size > 0 && !stop.aborted && ![...pending].some((id) => canStart(byId.get(id)!) || blockedBy(byId.get(id)!))) {
        throw new Error(`internal: scheduler stuck with ${[...pending].join(", ")}`);
      }
      continue;
    }
    await Promise.race(running.values());
  }
  return tasks.map((t) => results.get(t.id)!);
}
