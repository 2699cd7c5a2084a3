// The command word is found before any command loads (main.ts), so the flags that take a value
// must be known there: every option of every command that takes a value, in every spelling the
// flag reader accepts. The list is derived from the command definitions; these tests check it
// against what parseFlags itself does with each option, and the built binary.
import { describe, expect, test } from "bun:test";
import type { ArgsDef } from "citty";
import { allCommands, valueFlags } from "../../../src/cli/flags.ts";
import { findCommandWord } from "../../../src/cli/command-word.ts";
import { parseFlags } from "../../../src/cli/commands/args.ts";
import { dwfBinary, runDwf } from "../../support/dwf.ts";

/** Each option of each command with the spellings the reader accepts, and whether it takes the next word. */
async function options() {
  const out: { command: string; spelling: string; takesValue: boolean }[] = [];
  for (const { path, cmd } of await allCommands()) {
    const args = ((typeof cmd.args === "function" ? await cmd.args() : await cmd.args) ?? {}) as ArgsDef;
    for (const [name, d] of Object.entries(args)) {
      if (d.type === "positional") continue;
      const aliases = "alias" in d ? [d.alias ?? []].flat() : [];
      const value = d.type === "enum" ? String((d as { options: string[] }).options[0]) : "v";
      // Ask the flag reader: does `--name v` set the option to v?
      const parsed = parseFlags([`--${name}`, value], { [name]: d }, path);
      const takesValue = parsed[name] === value && !parsed._.includes(value);
      const camel = name.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
      for (const spelling of [`--${name}`, `--${camel}`, ...aliases.map((a) => (a.length === 1 ? `-${a}` : `--${a}`))])
        out.push({ command: path, spelling, takesValue });
    }
  }
  return out;
}

describe("flags that take a value", () => {
  test("every option that takes a value is skipped with its value when finding the command word; no other is", async () => {
    const known = new Set(await valueFlags());
    const all = await options();
    expect(all.some((o) => o.takesValue)).toBe(true);
    const wrong = all.filter((o) => known.has(o.spelling) !== o.takesValue && !all.some((p) => p.spelling === o.spelling && p.takesValue));
    expect(wrong).toEqual([]);
    for (const o of all.filter((x) => x.takesValue)) {
      expect({ spelling: o.spelling, ...findCommandWord([o.spelling, "some-value", "verify"], known) }).toEqual({
        spelling: o.spelling,
        index: 2,
        word: "verify",
      });
    }
  });

  test("the built binary knows them: a value flag before the command word is not taken for the command", async () => {
    dwfBinary();
    // --dwf-sha256 (ci) and --remote-cache (verify, an enum) were missing from the hand-kept list.
    for (const argv of [
      ["--dwf-sha256", "abc", "ci", "--help"],
      ["--remote-cache", "off", "verify", "--help"],
      ["-j", "2", "verify", "--help"],
    ]) {
      const r = await runDwf(argv, { cwd: process.cwd() });
      expect({ argv, code: r.code, err: r.stderr }).toEqual({ argv, code: 0, err: "" });
      expect(r.stdout).toContain(`dwf ${argv[2]}`);
    }
  });
});
