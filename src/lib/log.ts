// The one logger: consola's core (its full entry costs ~10 ms at startup) with a small
// reporter that writes `dwf: warning: …` lines to stderr and masks secret values. consola is
// loaded on the first message that is shown: a quiet run (all cached, say) never needs it.
import type { ConsolaInstance, ConsolaReporter, LogObject } from "consola/core";
import { redactText } from "./redact.ts";
import { style } from "./style.ts";
import { writeStderr } from "./out.ts";

const LABEL: Record<string, (s: string) => string> = {
  error: (s) => style.red(style.bold(s)),
  fatal: (s) => style.red(style.bold(s)),
  warn: (s) => style.yellow(style.bold(s)),
  debug: (s) => style.dim(s),
  trace: (s) => style.dim(s),
};

export function debugEnabled(env: Record<string, string | undefined> = process.env): boolean {
  const v = (env.DWF_LOG ?? "").toLowerCase();
  if (v === "debug" || v === "trace") return true;
  // The original read RUST_LOG=devflow=debug; honour it so old habits keep working.
  return /(^|,)\s*devflow\s*=\s*(debug|trace)\b/.test(env.RUST_LOG ?? "");
}

const reporter: ConsolaReporter = {
  log(obj: LogObject) {
    const text = obj.args.map((a) => (a instanceof Error ? (debugEnabled() ? (a.stack ?? a.message) : a.message) : String(a))).join(" ");
    const label = obj.type === "warn" ? "warning" : obj.type === "fatal" ? "error" : obj.type;
    const prefix = ["info", "log", "success", "ready", "start", "box"].includes(obj.type)
      ? ""
      : `${(LABEL[obj.type] ?? ((s: string) => s))(`${label}:`)} `;
    writeStderr(`${prefix}${redactText(text)}\n`);
  },
};

let instance: ConsolaInstance | undefined;
const consola = (): ConsolaInstance =>
  (instance ??= (require("consola/core") as typeof import("consola/core")).createConsola({
    reporters: [reporter],
    level: debugEnabled() ? 4 : 3,
  }));
const debugOn = debugEnabled();

type Log = (message: unknown, ...rest: unknown[]) => void;

export const log: { debug: Log; info: Log; warn: Log; error: Log } = {
  debug: (...a) => void (debugOn && consola().debug(...(a as [unknown]))),
  info: (...a) => consola().info(...(a as [unknown])),
  warn: (...a) => consola().warn(...(a as [unknown])),
  error: (...a) => consola().error(...(a as [unknown])),
};
