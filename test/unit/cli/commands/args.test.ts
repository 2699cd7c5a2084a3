import { describe, expect, test } from "bun:test";
import type { ArgsDef } from "citty";
import { parseFlags } from "../../../../src/cli/commands/args.ts";
import { UserError } from "../../../../src/lib/errors.ts";

const def = {
  target: { type: "positional", required: false },
  jobs: { type: "string", alias: ["j"] },
  "dry-run": { type: "boolean", alias: ["n"] },
  verbose: { type: "boolean", alias: ["V"] },
  cache: { type: "boolean", default: true },
  "older-than": { type: "string", default: "14d" },
} as const satisfies ArgsDef;

const message = (fn: () => unknown): string => {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(UserError);
    return (e as Error).message;
  }
  throw new Error("expected a UserError");
};

describe("parseFlags", () => {
  test("long, inline, short and grouped options; defaults for the rest", () => {
    const a = parseFlags(["pr", "--jobs", "3", "-nV", "--older-than=2d"], def, "verify");
    expect(a.target).toBe("pr");
    expect(a._).toEqual(["pr"]);
    expect(a.jobs).toBe("3");
    expect(a["dry-run"]).toBe(true);
    expect(a.dryRun).toBe(true);
    expect(a.verbose).toBe(true);
    expect(a["older-than"]).toBe("2d");
    expect(a.cache).toBe(true);
    expect(parseFlags(["-j4"], def, "verify").jobs).toBe("4");
    expect(parseFlags(["-nj", "2"], def, "verify")).toMatchObject({ jobs: "2", "dry-run": true });
    expect(parseFlags([], def, "verify")).toMatchObject({ "older-than": "14d", cache: true });
  });

  test("--no-<flag> turns a boolean off, unless a flag of that exact name exists", () => {
    expect(parseFlags(["--no-cache"], def, "verify").cache).toBe(false);
    const image = { "no-cache": { type: "boolean" }, cache: { type: "boolean", default: true } } as const satisfies ArgsDef;
    expect(parseFlags(["--no-cache"], image, "image build")).toMatchObject({ "no-cache": true, cache: true });
    expect(message(() => parseFlags(["--no-jobs"], def, "verify"))).toContain("unknown option '--no-jobs'");
  });

  test("everything after -- is positional, even what looks like an option", () => {
    const a = parseFlags(["--verbose", "--", "ls", "-la", "--json"], def, "shell");
    expect(a._).toEqual(["ls", "-la", "--json"]);
    expect(a.verbose).toBe(true);
  });

  test("unknown options name the command and suggest the closest flag", () => {
    expect(message(() => parseFlags(["--dryrun"], def, "verify"))).toBe(
      "unknown option '--dryrun' for 'dwf verify'. Did you mean '--dry-run'?",
    );
    expect(message(() => parseFlags(["-x"], def, "verify"))).toContain("unknown option '-x' for 'dwf verify'");
  });

  test("an option without its value is an error, also when another option follows it", () => {
    expect(message(() => parseFlags(["--jobs"], def, "verify"))).toBe("option '--jobs' needs a value.");
    expect(message(() => parseFlags(["-j", "--dry-run"], def, "verify"))).toBe(
      "option '--jobs' needs a value, but '--dry-run' follows it.",
    );
    expect(message(() => parseFlags(["--jobs="], def, "verify"))).toBe("option '--jobs' needs a value.");
    expect(message(() => parseFlags(["--verbose=yes"], def, "verify"))).toContain("option '--verbose' takes no value");
  });

  test("a required positional that is missing is an error naming it", () => {
    const run = { command: { type: "positional", required: true, valueHint: "primary:selector" } } as const satisfies ArgsDef;
    expect(message(() => parseFlags([], run, "run"))).toBe("'dwf run' needs <primary:selector>.");
    expect(parseFlags(["test:unit"], run, "run").command).toBe("test:unit");
  });
});
