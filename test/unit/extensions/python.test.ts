// The python stack against throwaway projects: ruff or black, pytest, uv or the project .venv,
// skips, the setup script, cache mounts, fingerprint and what setup:deps installs.
import { afterEach, describe, expect, test } from "bun:test";
import { chmodSync, symlinkSync } from "node:fs";
import { join } from "node:path";
import { SETUP_SCRIPT } from "../../../extensions/python/venv.ts";
import { argv, cleanup, ctx, deps, ext, project, skipOf } from "./helpers.ts";

afterEach(cleanup);

describe("python", () => {
  const python = ext("python");

  test("detects pyproject.toml, setup.py or requirements.txt", async () => {
    for (const file of ["pyproject.toml", "setup.py", "requirements.txt"]) {
      expect(await python.detect(ctx(project({ [file]: "" })))).toBe(true);
    }
    expect(await python.detect(ctx(project({ "main.py": "" })))).toBe(false);
  });

  test("plain tools without uv", async () => {
    const c = ctx(project({ "pyproject.toml": "[project]\nname = 'x'\n", "tests/unit/": "", "tests/integration/": "" }), [
      "ruff",
      "python",
    ]);
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
    expect(await argv(python, "setup:deps", c)).toEqual([
      "sh",
      "-c",
      SETUP_SCRIPT,
      "dwf-venv",
      "python3",
      ".venv",
      "-r",
      "requirements.txt",
      "-r",
      "requirements-dev.txt",
    ]);
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

describe("python: what setup:deps installs and what makes it stale", () => {
  test("python: pip fills .venv from requirements and the package metadata; uv syncs it from uv.lock", async () => {
    expect(await deps("python", { "requirements-dev.txt": "pytest\n", "tests/test_x.py": "" })).toEqual({
      inputs: ["requirements-dev.txt"],
      paths: [".venv"],
    });
    expect(await deps("python", { "pyproject.toml": '[project]\nname = "x"\n', "requirements.txt": "" })).toEqual({
      inputs: ["requirements.txt", "pyproject.toml"],
      paths: [".venv"],
    });
    expect(await deps("python", { "pyproject.toml": '[project]\nname = "x"\n', "uv.lock": "" }, ["uv"])).toEqual({
      inputs: ["pyproject.toml", "uv.lock"],
      paths: [".venv"],
    });
    expect((await deps("python", { "pyproject.toml": "", "uv.lock": "" }, ["uv"], { UV_PROJECT_ENVIRONMENT: "/opt/venv" }))?.paths).toEqual(
      [],
    );
    // A folder of scripts with only a tool config: nothing for pip to install.
    expect(await deps("python", { "pyproject.toml": "[tool.ruff]\n" })).toBeUndefined();
  });
});
