// The custom stack against throwaway Makefiles and justfiles: target parsing, command → target
// mapping, the make/just choice, tools and fingerprint.
import { afterEach, describe, expect, test } from "bun:test";
import { parseJustRecipes, parseMakeTargets } from "../../../extensions/custom/index.ts";
import { argv, cleanup, ctx, ext, project, skipOf } from "./helpers.ts";

afterEach(cleanup);

describe("custom", () => {
  const custom = ext("custom");
  const makefile = [
    "CC := gcc",
    "OUT ::= bin",
    ".PHONY: fmt-check test lint",
    "fmt-check:",
    "\tgofmt -l .",
    "test: build",
    "\t./run-tests",
    "lint-static lint: deps ## both",
    "%.o: %.c",
    "build::",
  ].join("\n");

  test("detects a Makefile or justfile", async () => {
    expect(await custom.detect(ctx(project({ Makefile: "" })))).toBe(true);
    expect(await custom.detect(ctx(project({ GNUmakefile: "" })))).toBe(true);
    expect(await custom.detect(ctx(project({ justfile: "" })))).toBe(true);
    expect(await custom.detect(ctx(project({ Justfile: "" })))).toBe(true);
    expect(await custom.detect(ctx(project({ "build.sh": "" })))).toBe(false);
  });

  test("parses make targets, not variables, special or pattern rules", () => {
    expect(parseMakeTargets(makefile).sort()).toEqual(["build", "fmt-check", "lint", "lint-static", "test"]);
  });

  test("parses just recipes and aliases, not settings or assignments", () => {
    const text = [
      "set shell := ['bash', '-c']",
      "export RUST_LOG := 'debug'",
      "version := `git describe`",
      "# test-unit: a comment",
      "alias t := test-unit",
      "[private]",
      "@fmt-check:",
      "    cargo fmt --check",
      "test-unit filter='': build",
      "    cargo test {{filter}}",
      "build:",
    ].join("\n");
    expect(parseJustRecipes(text).sort()).toEqual(["build", "fmt-check", "t", "test-unit"]);
  });

  test("maps commands to <primary>-<selector> targets, then the bare primary", async () => {
    const c = ctx(project({ Makefile: makefile }));
    expect(await argv(custom, "fmt:check", c)).toEqual(["make", "fmt-check"]);
    expect(await argv(custom, "lint:static", c)).toEqual(["make", "lint-static"]);
    expect(await argv(custom, "test:unit", c)).toEqual(["make", "test"]);
    expect(await argv(custom, "build:debug", c)).toEqual(["make", "build"]);
  });

  test("a missing target is a skip naming the targets tried", async () => {
    const c = ctx(project({ Makefile: makefile }));
    expect(await skipOf(custom, "test:integration", c)).toBe("no target 'test-integration' in Makefile");
    expect(await skipOf(custom, "fmt:fix", c)).toBe("no target 'fmt-fix' or 'fmt' in Makefile");
  });

  test("prefers just when installed, uses it anyway when there is nothing else", async () => {
    const files = { Makefile: "test-unit:\n\ttrue\n", justfile: "test-unit:\n    true\n" };
    expect(await argv(custom, "test:unit", ctx(project(files), ["just"]))).toEqual(["just", "test-unit"]);
    expect(await argv(custom, "test:unit", ctx(project(files)))).toEqual(["make", "test-unit"]);
    expect(await argv(custom, "test:unit", ctx(project({ justfile: "test:\n    true\n" })))).toEqual(["just", "test"]);
  });

  test("capabilities list each command once, the project's own targets as exact commands", async () => {
    const caps = await custom.capabilities(ctx(project({ Makefile: "setup-deps:\n\ttrue\ntest-e2e:\n\ttrue\n" })));
    expect(caps).toEqual(["setup:deps", "fmt", "lint", "build", "test", "package", "release", "test:e2e"]);
  });

  test("doctor requires the runner in use", async () => {
    const tools = await custom.tools!(ctx(project({ justfile: "" })));
    expect(tools.find((t) => t.name === "just")?.optional).toBe(false);
    expect(tools.find((t) => t.name === "make")?.optional).toBe(true);
  });

  test("fingerprint is the Makefile/justfile; no cache mounts", async () => {
    const c = ctx(project({ Makefile: "", justfile: "" }));
    expect(await custom.fingerprintInputs!(c)).toEqual(["Makefile", "justfile"]);
    expect(await custom.cacheMounts!(c)).toEqual([]);
  });
});

describe("custom: what setup:deps installs and what makes it stale", () => {
  test("custom: a Makefile's own setup target is not something dwf can keep current", () => {
    expect(ext("custom").dependencies).toBeUndefined();
  });
});
