// Which flags take a value, for finding the command word before any command is loaded
// (main.ts). Derived from the commands' citty definitions: main.ts imports `valueFlags` as a
// macro, so the list is computed when dwf is built (and when bun transpiles main.ts) and
// inlined; `dwf --version` and `dwf --help` still load no command module.
import type { ArgsDef, CommandDef } from "citty";
import { commands } from "./commands/index.ts";
import { camel } from "./commands/args.ts";

type Lazy<T> = T | (() => T) | (() => Promise<T>) | Promise<T>;

async function value<T>(v: Lazy<T> | undefined): Promise<T | undefined> {
  return typeof v === "function" ? await (v as () => T | Promise<T>)() : await v;
}

/** Every command (and sub-command) definition, depth first. */
export async function allCommands(): Promise<{ path: string; cmd: CommandDef<any> }[]> {
  const out: { path: string; cmd: CommandDef<any> }[] = [];
  const visit = async (path: string, cmd: CommandDef<any>) => {
    out.push({ path, cmd });
    const subs = (await value(cmd.subCommands)) ?? {};
    for (const [name, sub] of Object.entries(subs)) await visit(`${path} ${name}`, (await value(sub as Lazy<CommandDef<any>>))!);
  };
  for (const [name, load] of Object.entries(commands)) await visit(name, await load());
  return out;
}

/**
 * Every spelling of every option that takes a value (string and enum options), as the flag
 * reader accepts them: `--name`, `--camelName`, and each alias (`-j`). Sorted.
 */
export async function valueFlags(): Promise<string[]> {
  const flags = new Set<string>();
  for (const { cmd } of await allCommands()) {
    const args = ((await value(cmd.args)) ?? {}) as ArgsDef;
    for (const [name, d] of Object.entries(args)) {
      if (d.type !== "string" && d.type !== "enum") continue;
      flags.add(`--${name}`);
      flags.add(`--${camel(name)}`);
      for (const a of "alias" in d ? [d.alias ?? []].flat() : []) flags.add(a.length === 1 ? `-${a}` : `--${a}`);
    }
  }
  return [...flags].sort();
}
