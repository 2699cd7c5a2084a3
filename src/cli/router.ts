// Routes a command word to its module, reads its flags (commands/args.ts), runs it, and turns every error into
// the documented message + exit code. Stack traces only with DWF_LOG=debug.
import type { CommandDef } from "citty";
import { ALIASES, SELECTOR_COMMANDS, commands } from "./commands/index.ts";
import { TASK_PRIMARIES, knownCommands } from "../sdk/command-ref.ts";
import { EXIT, UserError } from "../lib/errors.ts";
import { didYouMean } from "../lib/suggest.ts";
import { parseFlags } from "./commands/args.ts";
import { debugEnabled, log } from "../lib/log.ts";
import { redactText } from "../lib/redact.ts";
import { writeStdout, writeStderr } from "../lib/out.ts";

interface Target {
  command: string;
  args: string[];
  display: string;
}

export function resolveWord(word: string, rest: string[]): Target {
  const alias = ALIASES[word];
  if (alias) return { command: alias.command, args: [...alias.args, ...rest], display: word };
  const [primary, selector] = word.split(":", 2) as [string, string | undefined];
  if ((TASK_PRIMARIES as readonly string[]).includes(primary)) {
    return { command: "run", args: [word, ...rest], display: word };
  }
  if (commands[primary]) {
    if (selector !== undefined) {
      if (!SELECTOR_COMMANDS.has(primary)) throw new UserError(`'${primary}' takes no selector; run 'dwf ${primary}'.`);
      return { command: primary, args: [selector, ...rest], display: primary };
    }
    return { command: primary, args: rest, display: primary };
  }
  const names = [...Object.keys(commands).filter((c) => c !== "run"), ...TASK_PRIMARIES, ...knownCommands(), ...Object.keys(ALIASES)];
  throw new UserError(`unknown command '${word}'.${didYouMean(word, names)}`, "Run 'dwf --help' for the list of commands.");
}

export async function route(word: string, rest: string[]): Promise<number> {
  try {
    const target = resolveWord(word, rest);
    const cmd = await commands[target.command]!();
    const wantsHelp = target.args.includes("--help") || target.args.includes("-h");
    const resolved = await resolveSub(
      cmd,
      target.args.filter((a) => a !== "--help" && a !== "-h"),
      target.display,
      wantsHelp,
    );
    if (wantsHelp) {
      writeStdout((await usageOf(resolved)) + "\n");
      return EXIT.ok;
    }
    const args = parseFlags(resolved.args, (await resolveValue(resolved.cmd.args)) ?? {}, resolved.path);
    const result = await resolved.cmd.run?.({ rawArgs: resolved.args, args, cmd: resolved.cmd } as Parameters<
      NonNullable<CommandDef["run"]>
    >[0]);
    return typeof result === "number" ? result : EXIT.ok;
  } catch (e) {
    return reportError(e);
  }
}

async function resolveValue<T>(v: T | (() => T) | (() => Promise<T>) | Promise<T> | undefined): Promise<T | undefined> {
  return typeof v === "function" ? await (v as () => T | Promise<T>)() : await v;
}

interface Resolved {
  cmd: CommandDef<any>;
  args: string[];
  /** The command as a user types it, e.g. "cache prune". */
  path: string;
}

/** Follow sub-commands (and a default one), so flag reading and help see the command that runs. */
async function resolveSub(cmd: CommandDef<any>, args: string[], path: string, forHelp = false): Promise<Resolved> {
  const subs = await resolveValue(cmd.subCommands);
  if (!subs) return { cmd, args, path };
  const i = args.findIndex((a) => !a.startsWith("-"));
  const name = i >= 0 ? args[i]! : undefined;
  if (name === undefined) {
    if (forHelp) return { cmd, args, path };
    const def = await resolveValue(cmd.default);
    const defCmd = def ? await resolveValue(subs[def]) : undefined;
    if (defCmd) return resolveSub(defCmd, args, `${path} ${def}`);
    throw new UserError(
      `'dwf ${path}' needs a sub-command: ${Object.keys(subs).join(", ")}.`,
      `Example: dwf ${path} ${Object.keys(subs)[0]}`,
    );
  }
  const sub = subs[name];
  if (!sub) {
    if (forHelp) return { cmd, args, path };
    throw new UserError(
      `unknown sub-command '${name}' for 'dwf ${path}'.${didYouMean(name, Object.keys(subs))}`,
      `Available: ${Object.keys(subs).join(", ")}.`,
    );
  }
  return resolveSub((await resolveValue(sub))!, [...args.slice(0, i), ...args.slice(i + 1)], `${path} ${name}`, forHelp);
}

/** Help for the command as the user typed it (`dwf cache prune`), rendered by commands/usage.ts. */
async function usageOf(r: Resolved): Promise<string> {
  const { renderCommandUsage } = await import("./commands/usage.ts");
  return (await renderCommandUsage(r.cmd, r.path)).trimEnd();
}

function reportError(e: unknown): number {
  const err = e as Error & { exitCode?: number; hint?: string; code?: string };
  if (err instanceof UserError || err?.name === "CLIError" || err?.code === "EARG") {
    log.error(clipMessage(stripAnsi(err.message)));
    if (err.hint) writeStderr(`  ${clipMessage(err.hint)}\n`);
    if (debugEnabled() && err.stack) writeStderr(redactText(err.stack) + "\n");
    return EXIT.usage;
  }
  if (typeof err?.exitCode === "number") {
    log.error(err.message);
    if (err.hint) writeStderr(`  ${clipMessage(err.hint)}\n`);
    return err.exitCode;
  }
  log.error(`internal error: ${err?.message ?? String(e)}`);
  if (debugEnabled() && err?.stack) writeStderr(redactText(err.stack) + "\n");
  else writeStderr("  This is a bug in dwf. Re-run with DWF_LOG=debug for details and report it.\n");
  return EXIT.failed;
}

const MAX_MESSAGE = 900;

/** Messages quote user input (keys, values, profile lists): keep a huge one to a readable paragraph
 * (any word over 120 characters and the whole text over MAX_MESSAGE are cut in the middle). */
export function clipMessage(text: string): string {
  let out = text.replace(/\S{121,}/g, (t) => `${t.slice(0, 60)}…(${t.length - 80} more characters)…${t.slice(-20)}`);
  if (out.length > MAX_MESSAGE)
    out = `${out.slice(0, MAX_MESSAGE - 200)} …(${out.length - MAX_MESSAGE + 100} characters omitted)… ${out.slice(-100)}`;
  return out;
}

function stripAnsi(s: string): string {
  return s.replace(/\x1b\[[0-9;]*m/g, "");
}
