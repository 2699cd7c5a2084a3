// --dry-run output: tasks in execution order with stack, exact command and dependencies.
import type { Prepared, PreparedTask } from "../core/prepare.ts";
import { executionOrder } from "../core/plan.ts";
import { formatRef } from "../sdk/command-ref.ts";
import { quoteCommand } from "../lib/shell-quote.ts";
import { redactText, secretValues } from "../lib/redact.ts";
import { style } from "../lib/style.ts";

export function renderPlan(prepared: Prepared, header: string, commandLine: (t: PreparedTask) => string[]): string {
  const byId = new Map(prepared.tasks.map((t) => [t.task.id, t]));
  const order = executionOrder(prepared.plan).map((t) => byId.get(t.id)!);
  const stacks = prepared.registry.stacks.map((s) => `${s.name} (${s.reason})`).join(", ");
  let out = `${style.bold(header)}\n${style.dim(`stacks: ${stacks}`)}\n`;
  if (prepared.implicit) out += style.dim("no devflow.toml: using default profiles (run 'dwf init' to write one)\n");
  out += "\n";
  order.forEach((t, i) => {
    const why = t.task.reason ? `  ${style.yellow(`install: ${t.task.reason}`)}` : "";
    const head = `${String(i + 1).padStart(2)}. ${formatRef(t.task.ref)} ${style.dim(`[${t.task.stack}]`)}${why}`;
    if (!t.action) {
      out += `${head}  ${style.gray(`skip: ${t.skip}`)}\n`;
      return;
    }
    const cmd = redactText(quoteCommand(commandLine(t)), secretValues(process.env, t.env));
    out += `${head}\n      ${style.cyan("$")} ${cmd}\n`;
    if (t.task.deps.length) out += `      ${style.dim(`after: ${t.task.deps.join(", ")}`)}\n`;
  });
  for (const d of prepared.dependencies ?? []) {
    if (d.install) continue;
    const where = d.paths.length ? d.paths.join(", ") : d.inputs.join(", ");
    if (d.skipped) out += style.dim(`\ndependencies: ${d.stack}: ${d.reason}, but its setup:deps is skipped: ${d.skipped}\n`);
    else if (d.disabled && d.reason)
      out += style.dim(
        `\ndependencies: ${d.stack}: not installed automatically (--no-install or [deps] install = false), although ${d.reason}\n`,
      );
    else if (d.disabled) out += style.dim(`\ndependencies: ${d.stack}: up to date (${where}); automatic installs are off\n`);
    else if (!d.reason) out += style.dim(`\ndependencies: ${d.stack}: up to date (${where})\n`);
  }
  return out;
}
