// Command-line flags, read against citty's argument definitions. citty defines the commands
// and renders their help; its parser builds on node:util, whose import alone costs more than
// the rest of an all-cached run's start, so dwf reads flags itself — strictly: an unknown
// option or an option without its value is a user error naming the fix.
import type { ArgsDef, CommandDef } from "citty";
import { UserError } from "../../lib/errors.ts";
import { didYouMean } from "../../lib/suggest.ts";

/** citty's `defineCommand`, without loading citty: the definition is plain data. */
export function defineCommand<const T extends ArgsDef = ArgsDef>(def: CommandDef<T>): CommandDef<T> {
  return def;
}

/** Parsed flags: `_` holds the positional words; a kebab-case name is also set in camelCase. */
type ParsedFlags = { _: string[] } & Record<string, unknown>;

export const camel = (name: string) => (name.includes("-") ? name.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase()) : name);

/**
 * Parse `argv` for `dwf <command>`: `--name value`, `--name=value`, `-j 4`, `-j4`, `-nV`,
 * `--no-<boolean>`, and `--` ending the options. Defaults apply to what is not given.
 */
export function parseFlags(argv: string[], def: ArgsDef, command: string): ParsedFlags {
  const byName = new Map<string, string>();
  for (const [name, d] of Object.entries(def)) {
    if (d.type === "positional") continue;
    byName.set(name, name);
    byName.set(camel(name), name);
    for (const a of "alias" in d ? [d.alias ?? []].flat() : []) byName.set(a, name);
  }
  const out: ParsedFlags = { _: [] };
  const set = (name: string, value: unknown) => {
    out[name] = value;
    out[camel(name)] = value;
  };
  const unknown = (flag: string): never => {
    const flags = Object.keys(def).filter((k) => def[k]!.type !== "positional");
    const bare = flag.replace(/^-+/, "");
    throw new UserError(
      `unknown option '${flag}' for 'dwf ${command}'.${didYouMean(bare, flags).replace("'", "'--")}`,
      `See 'dwf ${command} --help'.`,
    );
  };
  const needsValue = (flag: string, next: string | undefined): never => {
    const why = next === undefined ? "" : `, but '${next}' follows it`;
    throw new UserError(`option '${flag}' needs a value${why}.`, `See 'dwf ${command} --help'.`);
  };
  /** Apply one option; returns how many of the following words it took as its value. */
  const option = (flag: string, key: string, inline: string | undefined, next: string | undefined): number => {
    let name = byName.get(key);
    let negated = false;
    if (!name && key.startsWith("no-")) {
      name = byName.get(key.slice(3));
      negated = true;
      if (!name || def[name]!.type !== "boolean") unknown(flag);
    }
    if (!name) return unknown(flag);
    const d = def[name]!;
    const shown = `--${name}`;
    if (d.type === "boolean") {
      if (inline !== undefined)
        throw new UserError(`option '${shown}' takes no value, got '${flag}=${inline}'.`, `See 'dwf ${command} --help'.`);
      set(name, !negated);
      return 0;
    }
    if (inline !== undefined) {
      if (inline === "") needsValue(shown, undefined);
      set(name, inline);
      return 0;
    }
    // `-j --dry-run`: the next word is another option, not this one's value.
    if (next === undefined || next.startsWith("--")) needsValue(shown, next);
    set(name, next);
    return 1;
  };

  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === "--") {
      out._.push(...argv.slice(i + 1));
      break;
    }
    if (a.startsWith("--")) {
      const eq = a.indexOf("=");
      const key = eq < 0 ? a.slice(2) : a.slice(2, eq);
      i += option(eq < 0 ? a : a.slice(0, eq), key, eq < 0 ? undefined : a.slice(eq + 1), argv[i + 1]);
    } else if (a.startsWith("-") && a.length > 1) {
      // `-nV` is two booleans; `-j4` is -j with the value 4.
      for (let c = 1; c < a.length; c++) {
        const flag = `-${a[c]}`;
        const name = byName.get(a[c]!) ?? unknown(flag);
        const rest = a.slice(c + 1);
        if (def[name]!.type === "boolean" || rest === "") {
          i += option(flag, a[c]!, undefined, def[name]!.type === "boolean" ? undefined : argv[i + 1]);
          if (def[name]!.type !== "boolean") break;
        } else {
          option(flag, a[c]!, rest, undefined);
          break;
        }
      }
    } else out._.push(a);
  }

  const positional = [...out._];
  for (const [name, d] of Object.entries(def)) {
    if (d.type === "positional") {
      const value = positional.shift();
      if (value !== undefined) set(name, value);
      else if (d.default !== undefined) set(name, d.default);
      else if (d.required !== false) {
        throw new UserError(
          `'dwf ${command}' needs <${"valueHint" in d && d.valueHint ? d.valueHint : name}>.`,
          `See 'dwf ${command} --help'.`,
        );
      }
    } else if (out[name] === undefined && d.default !== undefined) set(name, d.default);
    else if (d.type === "enum" && out[name] !== undefined && d.options && !d.options.includes(out[name] as string)) {
      throw new UserError(`option '--${name}' expects one of ${d.options.join(", ")}, got '${out[name]}'.`);
    }
  }
  return out;
}
