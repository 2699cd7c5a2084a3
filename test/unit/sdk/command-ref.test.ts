import { describe, expect, test } from "bun:test";
import { parseCommandRef, formatRef, isMutating } from "../../../src/sdk/command-ref.ts";
import { closest } from "../../../src/lib/suggest.ts";
import { UserError } from "../../../src/lib/errors.ts";
import { resolveWord } from "../../../src/cli/router.ts";

describe("command refs", () => {
  test("a bare primary takes the original's default selector", () => {
    expect(["fmt", "lint", "build", "test", "package", "check"].map((p) => formatRef(parseCommandRef(p)))).toEqual([
      "fmt:check",
      "lint:static",
      "build:debug",
      "test:unit",
      "package:artifact",
      "check:pr",
    ]);
  });

  test("primary:selector keeps the selector", () => {
    expect(parseCommandRef("test:integration")).toEqual({ primary: "test", selector: "integration" });
  });

  test("an unknown primary is a user error with a suggestion", () => {
    expect(() => parseCommandRef("tset:unit")).toThrow(/unknown primary 'tset'.*Did you mean 'test'/);
    expect(() => parseCommandRef("tset:unit")).toThrow(UserError);
  });

  test("malformed refs are rejected", () => {
    for (const bad of ["", "test:", ":unit", "a:b:c", "test:Unit", "test:un it"]) expect(() => parseCommandRef(bad)).toThrow(UserError);
  });

  test("fix, package and release are mutating; checks are not", () => {
    expect(isMutating(parseCommandRef("fmt:fix"))).toBe(true);
    expect(isMutating(parseCommandRef("release"))).toBe(true);
    expect(isMutating(parseCommandRef("fmt:check"))).toBe(false);
  });

  test("suggestions only for near misses", () => {
    expect(closest("verfy", ["verify", "init"])).toBe("verify");
    expect(closest("zzzzzz", ["verify", "init"])).toBeUndefined();
  });
});

describe("routing", () => {
  test("task words go to run, builtin commands to themselves, aliases resolve", () => {
    expect(resolveWord("test:unit", []).command).toBe("run");
    expect(resolveWord("test", ["unit"]).args).toEqual(["test", "unit"]);
    expect(resolveWord("ci:check", []).args).toEqual(["check"]);
    expect(resolveWord("setup:doctor", []).command).toBe("doctor");
    expect(resolveWord("prune:cache", ["--local"]).args).toEqual(["prune", "--local"]);
  });

  test("an unknown command suggests the closest one", () => {
    expect(() => resolveWord("verfy", [])).toThrow(/Did you mean 'verify'/);
    expect(() => resolveWord("init:x", [])).toThrow(/takes no selector/);
  });
});
