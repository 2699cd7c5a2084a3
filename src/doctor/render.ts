// The doctor table: one row per check, grouped, with the fix under anything missing.
import type { DoctorReport, Status } from "./checks.ts";
import { style } from "../lib/style.ts";
import { redactText } from "../lib/redact.ts";

const MARK: Record<Status, (s: string) => string> = {
  ok: style.green,
  missing: style.red,
  failed: style.red,
  warning: style.yellow,
  info: style.gray,
};

export function renderDoctor(r: DoctorReport): string {
  const nameWidth = Math.max(5, ...r.checks.map((c) => c.name.length));
  const statusWidth = 7;
  let out = `${style.bold("dwf doctor")} ${style.dim(`(${r.root}${r.profile ? `, profile ${r.profile}` : ""})`)}\n`;
  let group = "";
  // Checks arrive in the order runDoctor adds them, which splits a group (the cache root is a
  // late "project" check): show each group once, in first-seen order.
  const groups = [...new Set(r.checks.map((c) => c.group))];
  const ordered = groups.flatMap((g) => r.checks.filter((c) => c.group === g));
  for (const c of ordered) {
    if (c.group !== group) {
      group = c.group;
      out += `\n${style.bold(group)}\n`;
    }
    const status = MARK[c.status](c.status.padEnd(statusWidth));
    const need = c.needed && c.status !== "ok" ? style.red(" (needed)") : "";
    out += `  ${c.name.padEnd(nameWidth)}  ${status}  ${c.detail}${need}\n`;
    if (c.fix && c.status !== "ok") out += `  ${"".padEnd(nameWidth)}  ${"".padEnd(statusWidth)}  ${style.dim(`fix: ${c.fix}`)}\n`;
  }
  const problems = r.checks.filter((c) => c.needed && (c.status === "failed" || c.status === "missing")).length;
  out += `\n${r.ok ? style.green("Everything the configured profile needs is present.") : style.red(`${problems} problem${problems === 1 ? "" : "s"} stop${problems === 1 ? "s" : ""} the configured profile from running.`)}\n`;
  return redactText(out);
}
