// The bun stack against throwaway packages: detection by Bun's lockfile, bun run / bun test,
// cache, fingerprint, tools and installed dependencies.
import { afterEach, describe, expect, test } from "bun:test";
import { argv, cleanup, ctx, deps, ext, pkg, project, skipOf } from "./helpers.ts";

afterEach(cleanup);

describe("bun", () => {
  const bun = ext("bun");

  test("applies to package.json with a Bun lockfile", async () => {
    expect(await bun.detect(ctx(project({ "package.json": "{}", "bun.lock": "" })))).toBe(true);
    expect(await bun.detect(ctx(project({ "package.json": "{}", "bun.lockb": "" })))).toBe(true);
    expect(await bun.detect(ctx(project({ "package.json": "{}" })))).toBe(false);
    expect(await bun.detect(ctx(project({ "bun.lock": "" })))).toBe(false);
  });

  test("runs scripts with bun run and installs frozen", async () => {
    const c = ctx(
      project({ "package.json": pkg({ lint: "eslint .", "test:unit": "bun test test/unit", build: "bun build" }), "bun.lock": "" }),
    );
    expect(await argv(bun, "lint:static", c)).toEqual(["bun", "run", "lint"]);
    expect(await argv(bun, "test:unit", c)).toEqual(["bun", "run", "test:unit"]);
    expect(await argv(bun, "build:release", c)).toEqual(["bun", "run", "build"]);
    expect(await argv(bun, "setup:deps", c)).toEqual(["bun", "install", "--frozen-lockfile"]);
  });

  test("unit tests fall back to bun test; other missing scripts skip", async () => {
    const c = ctx(project({ "package.json": pkg({}), "bun.lock": "" }));
    expect(await argv(bun, "test:unit", c)).toEqual(["bun", "test"]);
    expect(await skipOf(bun, "test:integration", c)).toBe("no script 'test:integration', 'test:int' or 'test:e2e' in package.json");
  });

  test("cache, fingerprint and tools", async () => {
    const c = ctx(project({ "package.json": "{}", "bun.lock": "" }));
    expect(await bun.cacheMounts!(c)).toEqual([
      { path: "install", container: "/home/dwf/.bun/install/cache", env: "BUN_INSTALL_CACHE_DIR" },
    ]);
    expect(await bun.fingerprintInputs!(c)).toEqual(["package.json#json=packageManager"]);
    expect((await bun.tools!(c)).map((t) => t.name)).toEqual(["bun"]);
  });
});

describe("bun: what setup:deps installs and what makes it stale", () => {
  test("bun: nothing to install without dependencies or workspaces", async () => {
    expect(await deps("bun", { "package.json": "{}", "bun.lock": "" })).toBeUndefined();
    expect(await deps("bun", { "package.json": JSON.stringify({ dependencies: { a: "1" } }), "bun.lockb": "", "bunfig.toml": "" })).toEqual(
      {
        inputs: ["package.json", "bun.lockb", "bunfig.toml"],
        paths: ["node_modules"],
      },
    );
  });
});
