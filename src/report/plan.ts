// --dry-run output: tasks in execution order with stack, exact command and dependencies.
import type { Prepared, PreparedTask } from "../core/pipeline.ts";
import { executionOrder } from "../core/plan.ts";
import { formatRef } from "../core/command-ref.ts";
import { quoteCommand } from "../core/shell-quote.ts";
import { redactText, secretValues } from "../core/redact.ts";
import { style } from "./style.ts";

export function renderPlan(prepared: Prepared, header: string, commandLine: (t: PreparedTask) => string[]): string {
  const byId = new Map(prepared.tasks.map((t) => [t.task.id, t]));
  const order = executionOrder(prepared.plan).map((t) => byId.get(t.id)!);
  const stacks = prepared.registry.stacks.map((s) => `${s.name} (${s.reason})`).join(", ");
  let out = `${style.bold(header)}\n${style.dim(`stacks: ${stacks}`)}\n`;
  if (prepared.implicit) out += style.dim("no devflow.toml: using default profiles (run 'dwf init' to write one)\n");
  out += "\n";
  order.forEach((t, i) => {
    const head = `${String(i + 1).padStart(2)}. ${formatRef(t.task.ref)} ${style.dim(`[${t.task.stack}]`)}`;
    if (!t.action) {
      out += `${head}  ${style.gray(`skip: ${t.skip}`)}\n`;
      return;
    }
    const cmd = redactText(quoteCommand(commandLine(t)), secretValues(process.env, t.env));
    out += `${head}\n      ${style.cyan("$")} ${cmd}\n`;
    if (t.task.deps.length) out += `      ${style.dim(`after: ${t.task.deps.join(", ")}`)}\n`;
  });
  return out;
}
