// `dwf <command> --help`: the usage line, arguments, options and sub-commands of one command,
// from its citty definition, in the top-level help's style. A boolean that is on by default is
// shown as the `--no-…` flag that changes something; a default is stated once.
import type { ArgsDef, CommandDef } from "citty";

type Def = ArgsDef[string];

async function value<T>(v: T | (() => T) | (() => Promise<T>) | Promise<T> | undefined): Promise<T | undefined> {
  return typeof v === "function" ? await (v as () => T | Promise<T>)() : await v;
}

/** The default, unless the description already says it. */
function withDefault(description: string, d: Def): string {
  if (!("default" in d) || d.default === undefined || d.default === false || /\bdefault\b/i.test(description)) return description;
  return `${description} (default: ${String(d.default)})`;
}

function optionRow(name: string, d: Def): [string, string] | null {
  if (d.type === "positional") return null;
  const aliases = ("alias" in d ? [d.alias ?? []].flat() : []).filter((a) => a.length === 1).map((a) => `-${a}, `);
  const description = d.description ?? "";
  if (d.type === "boolean") {
    // On by default: the flag a user types is --no-<name>.
    if (d.default === true) return [`--no-${name}`, ("negativeDescription" in d && d.negativeDescription) || `Turn off: ${description}`];
    return [`${aliases.join("")}--${name}`, description];
  }
  const hint = "valueHint" in d && d.valueHint ? d.valueHint : name;
  const choices = d.type === "enum" && d.options ? ` (${d.options.join(", ")})` : "";
  return [`${aliases.join("")}--${name} <${hint}>`, withDefault(description + choices, d)];
}

function table(rows: [string, string][]): string {
  const width = Math.min(34, Math.max(...rows.map(([l]) => l.length)));
  return rows.map(([l, r]) => (l.length > width ? `  ${l}\n  ${"".padEnd(width)}  ${r}` : `  ${l.padEnd(width)}  ${r}`)).join("\n");
}

/** Help text for `dwf <path>`. */
export async function renderCommandUsage(cmd: CommandDef<any>, path: string): Promise<string> {
  const meta = (await value(cmd.meta)) ?? {};
  const args = ((await value(cmd.args)) ?? {}) as ArgsDef;
  const subs = (await value(cmd.subCommands)) ?? {};
  // The task command's name is its pattern (<primary>:<selector>): show that over the word typed.
  const shown = meta.name?.startsWith("<") ? meta.name : path;
  const positionals = Object.entries(args).filter(([, d]) => d.type === "positional");
  const options = Object.entries(args)
    .map(([n, d]) => optionRow(n, d))
    .filter((r): r is [string, string] => r !== null);
  const word = (n: string, d: Def) => {
    const hint = "valueHint" in d && d.valueHint ? d.valueHint : n;
    const text = hint.startsWith("-") ? hint : `<${hint}>`;
    return d.required === false || d.default !== undefined ? `[${text}]` : text;
  };
  const subNames = Object.keys(subs);
  // A pattern name already spells its words: `dwf <primary>:<selector> [options]`.
  const words = shown === path ? positionals.map(([n, d]) => word(n, d)) : [];
  const usage = [`dwf ${shown}`, subNames.length ? "<sub-command>" : "", options.length ? "[options]" : "", ...words]
    .filter(Boolean)
    .join(" ");
  let out = `${meta.description ?? ""}\n\nUsage: ${usage}\n`;
  if (positionals.length) {
    out += `\nArguments\n${table(positionals.map(([n, d]) => [word(n, d).replace(/^\[(.*)\]$/, "$1"), withDefault(d.description ?? "", d)]))}\n`;
  }
  if (subNames.length) {
    const rows: [string, string][] = [];
    const def = await value(cmd.default);
    for (const name of subNames) {
      const sub = await value(subs[name]);
      const m = sub ? ((await value(sub.meta)) ?? {}) : {};
      rows.push([name, `${m.description ?? ""}${def === name ? " (the default)" : ""}`]);
    }
    out += `\nSub-commands\n${table(rows)}\n`;
  }
  if (options.length) out += `\nOptions\n${table([...options, ["-h, --help", "Show this help"]])}\n`;
  if (subNames.length) out += `\nRun 'dwf ${path} <sub-command> --help' for a sub-command's options.\n`;
  return out;
}
