// The --json result document: stable field names for scripts and CI.
import { statusCounts, type TaskResult } from "../core/scheduler.ts";
import type { PreparedTask } from "../core/prepare.ts";
import { formatRef } from "../sdk/command-ref.ts";
import { redactEnv, redactText, secretValues } from "../lib/redact.ts";

/** Arguments may carry a secret value (`--token=…`): mask it as the text plan does. */
function maskAll(args: string[] | undefined, t: PreparedTask): string[] | undefined {
  const secrets = secretValues(process.env, t.env);
  return args?.map((a) => redactText(a, secrets));
}

export function planJson(tasks: PreparedTask[], meta: Record<string, unknown>, commandLine: (t: PreparedTask) => string[] | undefined) {
  return {
    ...meta,
    tasks: tasks.map((t) => ({
      id: t.task.id,
      command: formatRef(t.task.ref),
      stack: t.task.stack,
      after: t.task.deps,
      ...(t.task.reason ? { reason: t.task.reason } : {}),
      ...(t.action
        ? { program: t.action.program, args: maskAll(t.action.args, t), env: redactEnv(t.env), argv: maskAll(commandLine(t), t) }
        : { skip: t.skip }),
    })),
  };
}

export function resultJson(results: TaskResult[], meta: Record<string, unknown>) {
  return {
    ...meta,
    ok: results.every((r) => r.status !== "failed" && r.status !== "cancelled"),
    summary: Object.fromEntries(statusCounts(results)),
    tasks: results.map((r) => ({
      id: r.task.id,
      command: formatRef(r.task.ref),
      stack: r.task.stack,
      status: r.status,
      durationMs: Math.round(r.durationMs),
      exitCode: r.exitCode ?? null,
      reason: r.reason ?? null,
      ...(r.status === "cached" ? { cache: r.origin ?? "local" } : {}),
      output: redactText(r.output),
    })),
  };
}
