// The node stack against throwaway packages: detection beside Bun's lockfile, script lookup,
// the package manager the lockfile names, cache mounts, fingerprint and installed dependencies.
import { afterEach, describe, expect, test } from "bun:test";
import { UserError } from "../../../src/lib/errors.ts";
import { argv, cleanup, ctx, deps, ext, pkg, project, ref, skipOf } from "./helpers.ts";

afterEach(cleanup);

describe("node", () => {
  const node = ext("node");
  const scripts = {
    "format:check": "prettier --check .",
    format: "prettier --write .",
    lint: "eslint .",
    "lint:fix": "eslint --fix .",
    build: "tsc",
    test: "vitest run",
    "test:e2e": "playwright test",
    smoke: "node smoke.js",
    pack: "npm pack",
  };

  test("applies to package.json unless the only lockfile is Bun's", async () => {
    expect(await node.detect(ctx(project({ "package.json": "{}" })))).toBe(true);
    expect(await node.detect(ctx(project({ "package.json": "{}", "package-lock.json": "{}" })))).toBe(true);
    expect(await node.detect(ctx(project({ "package.json": "{}", "bun.lock": "" })))).toBe(false);
    expect(await node.detect(ctx(project({ "package.json": "{}", "bun.lockb": "" })))).toBe(false);
    expect(await node.detect(ctx(project({ "package.json": "{}", "bun.lock": "", "package-lock.json": "{}" })))).toBe(true);
    expect(await node.detect(ctx(project({ "package-lock.json": "{}" })))).toBe(false);
  });

  test("maps selectors to scripts with common alternatives", async () => {
    const c = ctx(project({ "package.json": pkg(scripts), "package-lock.json": "{}" }));
    expect(await argv(node, "fmt:check", c)).toEqual(["npm", "run", "format:check"]);
    expect(await argv(node, "fmt:fix", c)).toEqual(["npm", "run", "format"]);
    expect(await argv(node, "lint:static", c)).toEqual(["npm", "run", "lint"]);
    expect(await argv(node, "lint:fix", c)).toEqual(["npm", "run", "lint:fix"]);
    expect(await argv(node, "build:debug", c)).toEqual(["npm", "run", "build"]);
    expect(await argv(node, "build:release", c)).toEqual(["npm", "run", "build"]);
    expect(await argv(node, "test:unit", c)).toEqual(["npm", "run", "test"]);
    expect(await argv(node, "test:integration", c)).toEqual(["npm", "run", "test:e2e"]);
    expect(await argv(node, "test:smoke", c)).toEqual(["npm", "run", "smoke"]);
    expect(await argv(node, "package:artifact", c)).toEqual(["npm", "run", "pack"]);
    expect(await argv(node, "setup:deps", c)).toEqual(["npm", "ci"]);
  });

  test("the project's own script name wins over alternatives", async () => {
    const c = ctx(project({ "package.json": pkg({ lint: "eslint .", "lint:static": "biome lint", "test:unit": "vitest", test: "all" }) }));
    expect(await argv(node, "lint:static", c)).toEqual(["npm", "run", "lint:static"]);
    expect(await argv(node, "test:unit", c)).toEqual(["npm", "run", "test:unit"]);
  });

  test("other selectors map to a script spelled like the command", async () => {
    const c = ctx(project({ "package.json": pkg({ "test:visual": "x" }) }));
    expect(await argv(node, "test:visual", c)).toEqual(["npm", "run", "test:visual"]);
  });

  test("a missing script is a skip naming the scripts tried", async () => {
    const c = ctx(project({ "package.json": pkg({ build: "tsc" }) }));
    expect(await skipOf(node, "lint:static", c)).toBe("no script 'lint:static' or 'lint' in package.json");
    expect(await skipOf(node, "fmt:check", c)).toContain("'prettier:check'");
  });

  test("npm init's placeholder test script is not a test suite", async () => {
    const c = ctx(project({ "package.json": pkg({ test: 'echo "Error: no test specified" && exit 1' }) }));
    expect(await skipOf(node, "test:unit", c)).toContain("no script");
  });

  test("package manager follows the lockfile", async () => {
    const run = (files: Record<string, string>) =>
      argv(node, "setup:deps", ctx(project({ "package.json": pkg({ build: "tsc" }), ...files })));
    expect(await run({ "pnpm-lock.yaml": "" })).toEqual(["pnpm", "install", "--frozen-lockfile"]);
    expect(await run({ "yarn.lock": "" })).toEqual(["yarn", "install", "--frozen-lockfile"]);
    expect(await run({ "yarn.lock": "", ".yarnrc.yml": "" })).toEqual(["yarn", "install", "--immutable"]);
    expect(await run({})).toEqual(["npm", "install"]);
    expect(await argv(node, "build:debug", ctx(project({ "package.json": pkg({ build: "tsc" }), "pnpm-lock.yaml": "" })))).toEqual([
      "pnpm",
      "run",
      "build",
    ]);
    expect(await argv(node, "build:debug", ctx(project({ "package.json": pkg({ build: "tsc" }), "yarn.lock": "" })))).toEqual([
      "yarn",
      "run",
      "build",
    ]);
  });

  test("packageManager field decides when there is no lockfile", async () => {
    const c = ctx(project({ "package.json": pkg({}, { packageManager: "pnpm@9.15.0" }) }));
    expect(await argv(node, "setup:deps", c)).toEqual(["pnpm", "install", "--no-frozen-lockfile"]);
  });

  test("malformed package.json is a user error", () => {
    const c = ctx(project({ "package.json": "{ nope" }));
    expect(() => node.buildAction(ref("test:unit"), c)).toThrow(UserError);
  });

  test("cache mount follows the package manager", async () => {
    expect(await node.cacheMounts!(ctx(project({ "package.json": "{}" })))).toEqual([
      { path: "npm", container: "/home/dwf/.npm", env: "npm_config_cache" },
    ]);
    const pnpm = await node.cacheMounts!(ctx(project({ "package.json": "{}", "pnpm-lock.yaml": "" })));
    expect(pnpm[0]?.env).toBe("npm_config_store_dir");
    const yarn = await node.cacheMounts!(ctx(project({ "package.json": "{}", "yarn.lock": "" })));
    expect(yarn[0]?.env).toBe("YARN_CACHE_FOLDER");
  });

  test("fingerprint is the toolchain pins: .nvmrc and package.json's packageManager", async () => {
    const c = ctx(project({ "package.json": "{}", "package-lock.json": "{}", "yarn.lock": "", ".nvmrc": "22" }));
    expect(await node.fingerprintInputs!(c)).toEqual([".nvmrc", "package.json#json=packageManager"]);
  });

  test("doctor checks node and the package manager", async () => {
    const names = (await node.tools!(ctx(project({ "package.json": "{}", "pnpm-lock.yaml": "" })))).map((t) => t.name);
    expect(names).toEqual(["node", "pnpm"]);
  });
});

describe("node: what setup:deps installs and what makes it stale", () => {
  test("node: package.json and the lockfile define node_modules; the lockfile npm will write when there is none", async () => {
    const manifest = JSON.stringify({ devDependencies: { mocha: "^10" } });
    expect(await deps("node", { "package.json": manifest, "package-lock.json": "{}" })).toEqual({
      inputs: ["package.json", "package-lock.json"],
      paths: ["node_modules"],
    });
    expect(await deps("node", { "package.json": manifest })).toEqual({
      inputs: ["package.json", "package-lock.json"],
      paths: ["node_modules"],
    });
    expect(await deps("node", { "package.json": manifest, "pnpm-lock.yaml": "", "pnpm-workspace.yaml": "" })).toEqual({
      inputs: ["package.json", "pnpm-lock.yaml", "pnpm-workspace.yaml"],
      paths: ["node_modules"],
    });
    expect(await deps("node", { "package.json": manifest, "yarn.lock": "" })).toEqual({
      inputs: ["package.json", "yarn.lock"],
      paths: ["node_modules"],
    });
  });

  test("node: yarn 2+ with Plug'n'Play installs a loader, not node_modules", async () => {
    const manifest = JSON.stringify({ dependencies: { a: "1" } });
    expect((await deps("node", { "package.json": manifest, "yarn.lock": "", ".yarnrc.yml": "yarnPath: x\n" }))?.paths).toEqual([
      ".pnp.cjs",
    ]);
    expect((await deps("node", { "package.json": manifest, "yarn.lock": "", ".yarnrc.yml": "nodeLinker: node-modules\n" }))?.paths).toEqual(
      ["node_modules"],
    );
  });

  test("node: nothing to install without dependencies or workspaces", async () => {
    expect(await deps("node", { "package.json": JSON.stringify({ scripts: { test: "node t.js" }, dependencies: {} }) })).toBeUndefined();
    expect(await deps("node", { "package.json": JSON.stringify({ workspaces: ["packages/*"] }) })).toEqual({
      inputs: ["package.json", "package-lock.json"],
      paths: ["node_modules"],
    });
  });

  test("node: without a lockfile pnpm and yarn 2+ may write one even under CI", async () => {
    const manifest = JSON.stringify({ packageManager: "yarn@4.5.0", dependencies: { a: "1" } });
    expect(await argv(ext("node"), "setup:deps", ctx(project({ "package.json": manifest, ".yarnrc.yml": "" })))).toEqual([
      "yarn",
      "install",
      "--no-immutable",
    ]);
    expect(await argv(ext("node"), "setup:deps", ctx(project({ "package.json": manifest, ".yarnrc.yml": "", "yarn.lock": "" })))).toEqual([
      "yarn",
      "install",
      "--immutable",
    ]);
  });
});
