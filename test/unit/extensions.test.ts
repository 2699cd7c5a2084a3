// Builtin extensions against throwaway project trees: detection, command → action mapping,
// skip reasons, cache mounts, fingerprint and task inputs.
import { afterEach, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import type { ActionResult, CommandRef, Extension, ExtensionContext } from "../../src/sdk/types.ts";
import { builtinByName, builtinExtensions } from "../../extensions/index.ts";
import { parseJustRecipes, parseMakeTargets } from "../../extensions/custom/index.ts";
import { GOFMT_CHECK } from "../../extensions/go/index.ts";
import { UserError } from "../../src/lib/errors.ts";
import { chmodSync, symlinkSync } from "node:fs";
import { SETUP_SCRIPT } from "../../extensions/python/venv.ts";

const roots: string[] = [];

afterEach(() => {
  for (const root of roots.splice(0)) rmSync(root, { recursive: true, force: true });
});

/** A temp project with the given files (content by relative path; a trailing "/" makes a directory). */
function project(files: Record<string, string> = {}): string {
  const root = mkdtempSync(join(tmpdir(), "dwf-ext-"));
  roots.push(root);
  for (const [rel, content] of Object.entries(files)) {
    if (rel.endsWith("/")) {
      mkdirSync(join(root, rel), { recursive: true });
      continue;
    }
    mkdirSync(dirname(join(root, rel)), { recursive: true });
    writeFileSync(join(root, rel), content);
  }
  return root;
}

function ctx(root: string, onPath: string[] = [], env: Record<string, string> = {}): ExtensionContext {
  return { root, env, which: (p) => (onPath.includes(p) ? `/usr/bin/${p}` : null) };
}

function ext(name: string): Extension {
  const e = builtinByName(name);
  if (!e) throw new Error(`no builtin ${name}`);
  return e;
}

function ref(raw: string): CommandRef {
  const [primary, selector] = raw.split(":") as [string, string];
  return { primary, selector };
}

async function argv(e: Extension, raw: string, c: ExtensionContext): Promise<string[]> {
  const result = await e.buildAction(ref(raw), c);
  if (!("action" in result)) throw new Error(`expected an action for ${raw}, got skip: ${result.skip}`);
  return [result.action.program, ...result.action.args];
}

async function skipOf(e: Extension, raw: string, c: ExtensionContext): Promise<string> {
  const result: ActionResult = await e.buildAction(ref(raw), c);
  if (!("skip" in result)) throw new Error(`expected a skip for ${raw}, got ${JSON.stringify(result.action)}`);
  return result.skip;
}

const pkg = (scripts: Record<string, string>, extra: Record<string, unknown> = {}) => JSON.stringify({ name: "x", scripts, ...extra });

describe("registry", () => {
  test("builtins are listed in order and found by name", () => {
    expect(builtinExtensions.map((e) => e.name)).toEqual(["rust", "node", "bun", "python", "go", "custom"]);
    expect(builtinByName("go")?.name).toBe("go");
    expect(builtinByName("cobol")).toBeUndefined();
  });

  test("every builtin declares the full contract", async () => {
    const c = ctx(project());
    for (const e of builtinExtensions) {
      expect(e.description.length).toBeGreaterThan(0);
      expect((await e.capabilities(c)).length).toBeGreaterThan(0);
      expect(e.cacheMounts).toBeDefined();
      expect(e.env).toBeDefined();
      expect(e.fingerprintInputs).toBeDefined();
      expect(e.taskInputs).toBeDefined();
      expect(e.tools).toBeDefined();
      const docker = e.dockerfile!();
      expect(docker.install.length).toBeGreaterThan(0);
      expect(docker.base).toContain("debian");
      for (const m of (await e.cacheMounts!(c)) ?? []) expect(m.container.startsWith("/home/dwf/")).toBe(true);
    }
  });

  test("fix, package, release and setup are never cacheable; checks are", () => {
    for (const e of builtinExtensions) {
      expect(e.cacheable!(ref("fmt:fix"))).toBe(false);
      expect(e.cacheable!(ref("lint:fix"))).toBe(false);
      expect(e.cacheable!(ref("package:artifact"))).toBe(false);
      expect(e.cacheable!(ref("release:candidate"))).toBe(false);
      expect(e.cacheable!(ref("setup:deps"))).toBe(false);
      expect(e.cacheable!(ref("fmt:check"))).toBe(true);
      expect(e.cacheable!(ref("test:unit"))).toBe(true);
    }
  });

  test("nothing detects an empty directory", async () => {
    const c = ctx(project(), ["just", "uv", "cargo-nextest"]);
    for (const e of builtinExtensions) expect(await e.detect(c)).toBe(false);
  });
});

describe("rust", () => {
  const rust = ext("rust");
  const crate = { "Cargo.toml": '[package]\nname = "x"\nversion = "0.1.0"\n', "src/lib.rs": "" };

  test("detects Cargo.toml", async () => {
    expect(await rust.detect(ctx(project(crate)))).toBe(true);
    expect(await rust.detect(ctx(project({ "src/lib.rs": "" })))).toBe(false);
  });

  test("maps each capability", async () => {
    const c = ctx(project({ ...crate, "tests/it.rs": "" }));
    expect(await argv(rust, "fmt:check", c)).toEqual(["cargo", "fmt", "--all", "--", "--check"]);
    expect(await argv(rust, "fmt:fix", c)).toEqual(["cargo", "fmt", "--all"]);
    expect(await argv(rust, "lint:static", c)).toEqual(["cargo", "clippy", "--all-targets", "--", "-D", "warnings"]);
    expect((await argv(rust, "lint:fix", c)).slice(0, 4)).toEqual(["cargo", "clippy", "--all-targets", "--fix"]);
    expect(await argv(rust, "build:debug", c)).toEqual(["cargo", "build"]);
    expect(await argv(rust, "build:release", c)).toEqual(["cargo", "build", "--release"]);
    expect(await argv(rust, "package:artifact", c)).toEqual(["cargo", "build", "--release"]);
    expect(await argv(rust, "setup:deps", c)).toEqual(["cargo", "fetch"]);
    expect(await argv(rust, "test:unit", c)).toEqual(["cargo", "test", "--lib", "--bins"]);
    expect(await argv(rust, "test:integration", c)).toEqual(["cargo", "test", "--test", "*"]);
    expect(await argv(rust, "test:all", c)).toEqual(["cargo", "test"]);
    for (const cap of await rust.capabilities(c)) expect("action" in (await rust.buildAction(ref(cap), c))).toBe(true);
  });

  test("uses nextest when cargo-nextest is on PATH, without overlap between unit and integration", async () => {
    const c = ctx(project({ ...crate, "tests/it.rs": "" }), ["cargo-nextest"]);
    const unit = await argv(rust, "test:unit", c);
    const integration = await argv(rust, "test:integration", c);
    expect(unit.slice(0, 3)).toEqual(["cargo", "nextest", "run"]);
    expect(unit).toContain("--lib");
    expect(unit).not.toContain("--test");
    expect(integration.slice(0, 3)).toEqual(["cargo", "nextest", "run"]);
    expect(integration).toContain("--test");
    expect(integration).not.toContain("--lib");
  });

  test("a binary-only crate is not asked for its library", async () => {
    const c = ctx(project({ "Cargo.toml": '[package]\nname = "x"\n', "src/main.rs": "" }));
    expect(await argv(rust, "test:unit", c)).toEqual(["cargo", "test", "--bins"]);
  });

  test("integration tests are skipped without a tests/ directory", async () => {
    expect(await skipOf(rust, "test:integration", ctx(project(crate)))).toContain("tests/");
  });

  test("workspaces cover every member and find member integration tests", async () => {
    const c = ctx(project({ "Cargo.toml": '[workspace]\nmembers = ["crates/a"]\n', "crates/a/Cargo.toml": "[package]\n", "crates/a/tests/it.rs": "" }));
    expect(await argv(rust, "build:debug", c)).toEqual(["cargo", "build", "--workspace"]);
    expect(await argv(rust, "test:unit", c)).toEqual(["cargo", "test", "--workspace", "--lib", "--bins"]);
    expect(await argv(rust, "test:integration", c)).toEqual(["cargo", "test", "--workspace", "--test", "*"]);
  });

  test("unsupported commands are skips", async () => {
    expect(await skipOf(rust, "test:smoke", ctx(project(crate)))).toContain("test:smoke");
  });

  test("cache mounts registry and git, never the whole CARGO_HOME", async () => {
    const mounts = await rust.cacheMounts!(ctx(project(crate)));
    expect(mounts.map((m) => m.container)).toEqual(["/home/dwf/.cargo/registry", "/home/dwf/.cargo/git"]);
    expect(mounts.some((m) => m.env === "CARGO_HOME")).toBe(false);
  });

  test("fingerprint lists the toolchain pins; Cargo.lock keys the cached target folder", async () => {
    const c = ctx(project({ ...crate, "Cargo.lock": "", "rust-toolchain.toml": "" }));
    expect(await rust.fingerprintInputs!(c)).toEqual(["rust-toolchain.toml"]);
    expect(await rust.buildOutputs!(c)).toEqual({ paths: ["target"], inputs: ["Cargo.lock", "rust-toolchain.toml"] });
  });

  test("fmt inputs are the crate's sources; workspaces and other commands mean every file", () => {
    const c = ctx(project(crate));
    expect(rust.taskInputs!(ref("fmt:check"), c)).toEqual(expect.arrayContaining(["src", "tests", "benches", "examples", "Cargo.toml", "rustfmt.toml", ".rustfmt.toml"]));
    expect(rust.taskInputs!(ref("test:unit"), c)).toBeUndefined();
    const ws = ctx(project({ "Cargo.toml": "[workspace]\n" }));
    expect(rust.taskInputs!(ref("fmt:check"), ws)).toBeUndefined();
    const pathDep = ctx(project({ "Cargo.toml": '[package]\n[dependencies]\nfoo = { path = "../foo" }\n' }));
    expect(rust.taskInputs!(ref("fmt:check"), pathDep)).toBeUndefined();
  });

  test("disables incremental builds only under CI", async () => {
    const root = project(crate);
    expect(await rust.env!(ctx(root, [], { CI: "true" }))).toEqual({ CARGO_INCREMENTAL: "0" });
    expect(await rust.env!(ctx(root, [], { CI: "false" }))).toEqual({});
    expect(await rust.env!(ctx(root))).toEqual({});
  });

  test("doctor needs cargo; nextest is optional", async () => {
    const tools = await rust.tools!(ctx(project(crate)));
    expect(tools.find((t) => t.name === "cargo")?.optional).toBeFalsy();
    expect(tools.find((t) => t.name === "cargo-nextest")?.optional).toBe(true);
  });
});

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
    const run = (files: Record<string, string>) => argv(node, "setup:deps", ctx(project({ "package.json": pkg({ build: "tsc" }), ...files })));
    expect(await run({ "pnpm-lock.yaml": "" })).toEqual(["pnpm", "install", "--frozen-lockfile"]);
    expect(await run({ "yarn.lock": "" })).toEqual(["yarn", "install", "--frozen-lockfile"]);
    expect(await run({ "yarn.lock": "", ".yarnrc.yml": "" })).toEqual(["yarn", "install", "--immutable"]);
    expect(await run({})).toEqual(["npm", "install"]);
    expect(await argv(node, "build:debug", ctx(project({ "package.json": pkg({ build: "tsc" }), "pnpm-lock.yaml": "" })))).toEqual(["pnpm", "run", "build"]);
    expect(await argv(node, "build:debug", ctx(project({ "package.json": pkg({ build: "tsc" }), "yarn.lock": "" })))).toEqual(["yarn", "run", "build"]);
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
    expect(await node.cacheMounts!(ctx(project({ "package.json": "{}" })))).toEqual([{ path: "npm", container: "/home/dwf/.npm", env: "npm_config_cache" }]);
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

describe("bun", () => {
  const bun = ext("bun");

  test("applies to package.json with a Bun lockfile", async () => {
    expect(await bun.detect(ctx(project({ "package.json": "{}", "bun.lock": "" })))).toBe(true);
    expect(await bun.detect(ctx(project({ "package.json": "{}", "bun.lockb": "" })))).toBe(true);
    expect(await bun.detect(ctx(project({ "package.json": "{}" })))).toBe(false);
    expect(await bun.detect(ctx(project({ "bun.lock": "" })))).toBe(false);
  });

  test("runs scripts with bun run and installs frozen", async () => {
    const c = ctx(project({ "package.json": pkg({ lint: "eslint .", "test:unit": "bun test test/unit", build: "bun build" }), "bun.lock": "" }));
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
    expect(await bun.cacheMounts!(c)).toEqual([{ path: "install", container: "/home/dwf/.bun/install/cache", env: "BUN_INSTALL_CACHE_DIR" }]);
    expect(await bun.fingerprintInputs!(c)).toEqual(["package.json#json=packageManager"]);
    expect((await bun.tools!(c)).map((t) => t.name)).toEqual(["bun"]);
  });
});

describe("python", () => {
  const python = ext("python");

  test("detects pyproject.toml, setup.py or requirements.txt", async () => {
    for (const file of ["pyproject.toml", "setup.py", "requirements.txt"]) {
      expect(await python.detect(ctx(project({ [file]: "" })))).toBe(true);
    }
    expect(await python.detect(ctx(project({ "main.py": "" })))).toBe(false);
  });

  test("plain tools without uv", async () => {
    const c = ctx(project({ "pyproject.toml": "[project]\nname = 'x'\n", "tests/unit/": "", "tests/integration/": "" }), ["ruff", "python"]);
    expect(await argv(python, "fmt:check", c)).toEqual(["ruff", "format", "--check", "."]);
    expect(await argv(python, "fmt:fix", c)).toEqual(["ruff", "format", "."]);
    expect(await argv(python, "lint:static", c)).toEqual(["ruff", "check", "."]);
    expect(await argv(python, "lint:fix", c)).toEqual(["ruff", "check", "--fix", "."]);
    expect(await argv(python, "test:unit", c)).toEqual(["python", "-m", "pytest", "tests/unit"]);
    expect(await argv(python, "test:integration", c)).toEqual(["python", "-m", "pytest", "tests/integration"]);
    expect(await argv(python, "test:all", c)).toEqual(["python", "-m", "pytest"]);
    expect(await argv(python, "setup:deps", c)).toEqual(["sh", "-c", SETUP_SCRIPT, "dwf-venv", "python", ".venv", "-e", "."]);
    expect(await argv(python, "package:artifact", c)).toEqual(["python", "-m", "build"]);
  });

  test("black when ruff is neither configured nor installed", async () => {
    const c = ctx(project({ "requirements.txt": "" }));
    expect(await argv(python, "fmt:check", c)).toEqual(["black", "--check", "."]);
  });

  test("the project's configured formatter beats the host PATH", async () => {
    const c = ctx(project({ "pyproject.toml": "[tool.ruff]\nline-length = 100\n" }));
    expect((await argv(python, "fmt:check", c))[0]).toBe("ruff");
  });

  test("uv when uv is on PATH and uv.lock exists", async () => {
    const c = ctx(project({ "pyproject.toml": "[project]\n", "uv.lock": "", "tests/": "" }), ["uv", "ruff"]);
    expect(await argv(python, "fmt:check", c)).toEqual(["uv", "run", "ruff", "format", "--check", "."]);
    expect(await argv(python, "lint:static", c)).toEqual(["uv", "run", "ruff", "check", "."]);
    expect(await argv(python, "test:unit", c)).toEqual(["uv", "run", "pytest", "tests"]);
    expect(await argv(python, "setup:deps", c)).toEqual(["uv", "sync", "--locked"]);
    expect(await argv(python, "package:artifact", c)).toEqual(["uv", "build"]);
    // uv.lock alone is not enough: the host must have uv.
    const noUv = ctx(project({ "pyproject.toml": "[project]\n", "uv.lock": "" }), ["ruff"]);
    expect(await argv(python, "lint:static", noUv)).toEqual(["ruff", "check", "."]);
  });

  test("unit tests leave out the integration suite", async () => {
    const c = ctx(project({ "setup.py": "", "tests/integration/": "" }), ["python"]);
    expect(await argv(python, "test:unit", c)).toEqual(["python", "-m", "pytest", "tests", "--ignore=tests/integration"]);
  });

  test("skips what the project does not have", async () => {
    const c = ctx(project({ "requirements.txt": "" }), ["python3"]);
    expect(await skipOf(python, "test:integration", c)).toBe("no tests/integration directory");
    expect(await skipOf(python, "package:artifact", c)).toContain("nothing to package");
    expect(await skipOf(python, "build:debug", c)).toContain("build:debug");
    expect(await python.capabilities(c)).not.toContain("build:debug");
  });

  test("requirements install into .venv, made with python3 when that is what the host has", async () => {
    const c = ctx(project({ "requirements.txt": "", "requirements-dev.txt": "" }), ["python3"]);
    expect(await argv(python, "setup:deps", c)).toEqual(["sh", "-c", SETUP_SCRIPT, "dwf-venv", "python3", ".venv", "-r", "requirements.txt", "-r", "requirements-dev.txt"]);
  });

  test("setup script takes paths only as positional parameters", () => {
    // Project data never reaches the script text: it must not mention any file or interpreter.
    expect(SETUP_SCRIPT).not.toMatch(/requirements|\.venv|python3/);
    expect(SETUP_SCRIPT).toContain('exec "$venv/bin/python" -m pip install "$@"');
  });

  test("a package installs editable with its declared dev/test extras", async () => {
    const pyproject = "[project]\nname = 'x'\n[project.optional-dependencies]\ntest = ['pytest']\ndocs = ['mkdocs']\ndev = ['ruff']\n";
    const c = ctx(project({ "pyproject.toml": pyproject, "requirements.txt": "" }), ["python"]);
    expect((await argv(python, "setup:deps", c)).slice(4)).toEqual(["python", ".venv", "-r", "requirements.txt", "-e", ".[dev,test]"]);
    // A pyproject with only tool config is not installable: nothing to do.
    const tool = ctx(project({ "pyproject.toml": "[tool.ruff]\n" }), ["python"]);
    expect(await skipOf(python, "setup:deps", tool)).toContain("no requirements");
  });

  /** A project with a .venv whose interpreter runs (an executable script) and the given packages installed. */
  function withVenv(files: Record<string, string>, modules: string[] = []): string {
    const pkgs = Object.fromEntries(modules.map((m) => [`.venv/lib/python3.11/site-packages/${m}/`, ""]));
    const root = project({ ...files, ...pkgs, ".venv/bin/python": "#!/bin/sh\n" });
    chmodSync(join(root, ".venv/bin/python"), 0o755);
    return root;
  }

  test("a working .venv runs pytest and build, and ruff/black only when installed there", async () => {
    const files = { "pyproject.toml": "[project]\nname = 'x'\n[tool.ruff]\n", "tests/": "" };
    const c = ctx(withVenv(files, ["pytest"]), ["python", "ruff"]);
    expect(await argv(python, "test:unit", c)).toEqual([".venv/bin/python", "-m", "pytest", "tests"]);
    expect(await argv(python, "test:all", c)).toEqual([".venv/bin/python", "-m", "pytest"]);
    expect(await argv(python, "package:artifact", c)).toEqual([".venv/bin/python", "-m", "build"]);
    expect(await argv(python, "lint:static", c)).toEqual(["ruff", "check", "."]);
    // Setup is the same script with or without a venv: the script decides at run time.
    expect((await argv(python, "setup:deps", c)).slice(0, 2)).toEqual(["sh", "-c"]);
    const withRuff = ctx(withVenv(files, ["ruff"]), ["python", "ruff"]);
    expect(await argv(python, "fmt:check", withRuff)).toEqual([".venv/bin/python", "-m", "ruff", "format", "--check", "."]);
    expect(await argv(python, "lint:fix", withRuff)).toEqual([".venv/bin/python", "-m", "ruff", "check", "--fix", "."]);
  });

  test("a .venv whose interpreter does not resolve here is still the project's (it may be the container's); setup:deps repairs it", async () => {
    const root = project({ "requirements.txt": "", "tests/": "", ".venv/bin/": "" });
    symlinkSync("/nonexistent/host-only/python3.11", join(root, ".venv/bin/python"));
    const c = ctx(root, ["python", "ruff"]);
    expect(await argv(python, "test:unit", c)).toEqual([".venv/bin/python", "-m", "pytest", "tests"]);
    expect(await argv(python, "lint:static", c)).toEqual(["ruff", "check", "."]);
    expect((await argv(python, "setup:deps", c))[0]).toBe("sh");
  });

  test("uv projects ignore .venv and keep uv sync / uv run", async () => {
    const c = ctx(withVenv({ "pyproject.toml": "[project]\n", "uv.lock": "", "tests/": "" }, ["pytest", "ruff"]), ["uv", "ruff"]);
    expect(await argv(python, "setup:deps", c)).toEqual(["uv", "sync", "--locked"]);
    expect(await argv(python, "test:unit", c)).toEqual(["uv", "run", "pytest", "tests"]);
    expect(await argv(python, "lint:static", c)).toEqual(["uv", "run", "ruff", "check", "."]);
  });

  test("the image can make venvs", () => {
    expect(python.dockerfile!().packages).toContain("python3-venv");
  });

  test("cache mounts and fingerprint", async () => {
    const c = ctx(project({ "pyproject.toml": "", "uv.lock": "", "requirements-test.txt": "", "poetry.lock": "", "README.md": "" }));
    const env = (await python.cacheMounts!(c)).map((m) => m.env);
    expect(env).toEqual(["PIP_CACHE_DIR", "UV_CACHE_DIR"]);
    expect(await python.fingerprintInputs!(c)).toEqual(["pyproject.toml#lines=^\\s*requires-python\\s*="]);
  });
});

describe("go", () => {
  const go = ext("go");

  test("detects go.mod", async () => {
    expect(await go.detect(ctx(project({ "go.mod": "module x\n" })))).toBe(true);
    expect(await go.detect(ctx(project({ "main.go": "" })))).toBe(false);
  });

  test("maps each capability", async () => {
    const c = ctx(project({ "go.mod": "module x\n" }));
    expect(await argv(go, "fmt:check", c)).toEqual(["sh", "-c", GOFMT_CHECK]);
    expect(await argv(go, "fmt:fix", c)).toEqual(["gofmt", "-w", "."]);
    expect(await argv(go, "lint:static", c)).toEqual(["go", "vet", "./..."]);
    expect(await argv(go, "build:debug", c)).toEqual(["go", "build", "./..."]);
    expect(await argv(go, "test:unit", c)).toEqual(["go", "test", "./..."]);
    expect(await argv(go, "test:integration", c)).toEqual(["go", "test", "-tags", "integration", "./..."]);
    expect(await argv(go, "setup:deps", c)).toEqual(["go", "mod", "download"]);
    for (const cap of await go.capabilities(c)) expect("action" in (await go.buildAction(ref(cap), c))).toBe(true);
  });

  test("the gofmt check fails on a non-empty list and passes on an empty one", () => {
    const withList = (files: string) => Bun.spawnSync(["sh", "-c", GOFMT_CHECK.replace("gofmt -l .", `printf '${files}'`)]).exitCode;
    expect(withList("")).toBe(0);
    expect(withList("main.go\\n")).toBe(1);
    expect(GOFMT_CHECK).not.toMatch(/\$\{?[0-9@*]/);
  });

  test("cache mounts, fingerprint", async () => {
    const c = ctx(project({ "go.mod": "", "go.sum": "" }));
    expect((await go.cacheMounts!(c)).map((m) => m.env)).toEqual(["GOMODCACHE", "GOCACHE"]);
    expect(await go.fingerprintInputs!(c)).toEqual(["go.mod#lines=^(go|toolchain)\\s", "go.work#lines=^(go|toolchain)\\s"]);
    expect(go.taskInputs!(ref("test:unit"), c)).toBeUndefined();
  });
});

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

describe("dependencies: what setup:deps installs and what makes it stale", () => {
  const deps = async (name: string, files: Record<string, string>, onPath: string[] = [], env: Record<string, string> = {}) =>
    ext(name).dependencies!(ctx(project(files), onPath, env));

  test("node: package.json and the lockfile define node_modules; the lockfile npm will write when there is none", async () => {
    const manifest = JSON.stringify({ devDependencies: { mocha: "^10" } });
    expect(await deps("node", { "package.json": manifest, "package-lock.json": "{}" })).toEqual({ inputs: ["package.json", "package-lock.json"], paths: ["node_modules"] });
    expect(await deps("node", { "package.json": manifest })).toEqual({ inputs: ["package.json", "package-lock.json"], paths: ["node_modules"] });
    expect(await deps("node", { "package.json": manifest, "pnpm-lock.yaml": "", "pnpm-workspace.yaml": "" })).toEqual({
      inputs: ["package.json", "pnpm-lock.yaml", "pnpm-workspace.yaml"],
      paths: ["node_modules"],
    });
    expect(await deps("node", { "package.json": manifest, "yarn.lock": "" })).toEqual({ inputs: ["package.json", "yarn.lock"], paths: ["node_modules"] });
  });

  test("node: yarn 2+ with Plug'n'Play installs a loader, not node_modules", async () => {
    const manifest = JSON.stringify({ dependencies: { a: "1" } });
    expect((await deps("node", { "package.json": manifest, "yarn.lock": "", ".yarnrc.yml": "yarnPath: x\n" }))?.paths).toEqual([".pnp.cjs"]);
    expect((await deps("node", { "package.json": manifest, "yarn.lock": "", ".yarnrc.yml": "nodeLinker: node-modules\n" }))?.paths).toEqual(["node_modules"]);
  });

  test("node and bun: nothing to install without dependencies or workspaces", async () => {
    expect(await deps("node", { "package.json": JSON.stringify({ scripts: { test: "node t.js" }, dependencies: {} }) })).toBeUndefined();
    expect(await deps("node", { "package.json": JSON.stringify({ workspaces: ["packages/*"] }) })).toEqual({ inputs: ["package.json", "package-lock.json"], paths: ["node_modules"] });
    expect(await deps("bun", { "package.json": "{}", "bun.lock": "" })).toBeUndefined();
    expect(await deps("bun", { "package.json": JSON.stringify({ dependencies: { a: "1" } }), "bun.lockb": "", "bunfig.toml": "" })).toEqual({
      inputs: ["package.json", "bun.lockb", "bunfig.toml"],
      paths: ["node_modules"],
    });
  });

  test("node: without a lockfile pnpm and yarn 2+ may write one even under CI", async () => {
    const manifest = JSON.stringify({ packageManager: "yarn@4.5.0", dependencies: { a: "1" } });
    expect(await argv(ext("node"), "setup:deps", ctx(project({ "package.json": manifest, ".yarnrc.yml": "" })))).toEqual(["yarn", "install", "--no-immutable"]);
    expect(await argv(ext("node"), "setup:deps", ctx(project({ "package.json": manifest, ".yarnrc.yml": "", "yarn.lock": "" })))).toEqual(["yarn", "install", "--immutable"]);
  });

  test("python: pip fills .venv from requirements and the package metadata; uv syncs it from uv.lock", async () => {
    expect(await deps("python", { "requirements-dev.txt": "pytest\n", "tests/test_x.py": "" })).toEqual({ inputs: ["requirements-dev.txt"], paths: [".venv"] });
    expect(await deps("python", { "pyproject.toml": '[project]\nname = "x"\n', "requirements.txt": "" })).toEqual({ inputs: ["requirements.txt", "pyproject.toml"], paths: [".venv"] });
    expect(await deps("python", { "pyproject.toml": '[project]\nname = "x"\n', "uv.lock": "" }, ["uv"])).toEqual({ inputs: ["pyproject.toml", "uv.lock"], paths: [".venv"] });
    expect((await deps("python", { "pyproject.toml": "", "uv.lock": "" }, ["uv"], { UV_PROJECT_ENVIRONMENT: "/opt/venv" }))?.paths).toEqual([]);
    // A folder of scripts with only a tool config: nothing for pip to install.
    expect(await deps("python", { "pyproject.toml": "[tool.ruff]\n" })).toBeUndefined();
  });

  test("rust: Cargo.lock and Cargo.toml decide, nothing in the workspace; no registry dependency, nothing to fetch", async () => {
    const crate = '[package]\nname = "x"\nversion = "0.1.0"\n';
    expect(await deps("rust", { "Cargo.toml": `${crate}[dependencies]\nserde = "1"\n` })).toEqual({ inputs: ["Cargo.toml", "Cargo.lock"], paths: [] });
    expect(await deps("rust", { "Cargo.toml": `${crate}[dependencies]\n` })).toBeUndefined();
    expect(await deps("rust", { "Cargo.toml": `${crate}[dependencies]\nlocal = { path = "../local" }\n` })).toBeUndefined();
    expect(await deps("rust", { "Cargo.toml": `${crate}[target.'cfg(unix)'.dev-dependencies]\nlibc = "0.2"\n` })).toBeDefined();
    expect(await deps("rust", { "Cargo.toml": crate, "Cargo.lock": '[[package]]\nname = "x"\nversion = "0.1.0"\n' })).toBeUndefined();
    expect(await deps("rust", { "Cargo.toml": crate, "Cargo.lock": '[[package]]\nname = "serde"\nsource = "registry+x"\n' })).toBeDefined();
  });

  test("go: go.mod and go.sum decide; a module without requirements or with vendor/ downloads nothing", async () => {
    expect(await deps("go", { "go.mod": "module x\n\ngo 1.22\n\nrequire example.com/a v1.0.0\n" })).toEqual({ inputs: ["go.mod", "go.sum"], paths: [] });
    expect(await deps("go", { "go.mod": "module x\n\ngo 1.22\n" })).toBeUndefined();
    expect(await deps("go", { "go.mod": "module x\nrequire example.com/a v1.0.0\n", "vendor/modules.txt": "" })).toBeUndefined();
  });

  test("custom: a Makefile's own setup target is not something dwf can keep current", () => {
    expect(ext("custom").dependencies).toBeUndefined();
  });
});
