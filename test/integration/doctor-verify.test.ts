// doctor and verify agree, per builtin stack: when `dwf doctor` exits 0, `dwf verify` does not
// fail for a missing tool; when it exits 1, it names the needed tool that is missing, and verify
// indeed fails. Each stack runs with what this machine really has (Go is absent here: doctor
// must say so), and Python also with a PATH that has no ruff or black, and one with stand-ins.
import { describe, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { delimiter, join } from "node:path";
import { fixture, runDwf } from "../support/dwf.ts";

interface Check {
  group: string;
  name: string;
  status: string;
  needed: boolean;
}

/** What a task's output or reason says when a tool was not there. */
const MISSING_TOOL =
  /was not found on PATH|a command inside the task was not found|No module named|could not be run inside image|: command not found|: not found$/m;

const host = (stack: string, pr: string[]) =>
  `[project]\nname = "dv-${stack}"\nstack = ["${stack}"]\n\n[runtime]\nprofile = "host"\n\n[targets]\npr = ${JSON.stringify(pr)}\n`;

/** PATH without the directories that hold any of these programs. */
function pathWithout(...programs: string[]): string {
  return (process.env.PATH ?? "")
    .split(delimiter)
    .filter((dir) => dir && !programs.some((p) => existsSync(join(dir, p))))
    .join(delimiter);
}

async function doctorThenVerify(dir: string, env: Record<string, string> = {}) {
  const doctor = await runDwf(["doctor", "--json"], { cwd: dir, env });
  expect([0, 1]).toContain(doctor.code);
  const report = JSON.parse(doctor.stdout) as { ok: boolean; checks: Check[] };
  const missing = report.checks.filter((c) => c.needed && (c.status === "missing" || c.status === "failed"));
  const verify = await runDwf(["verify", "--jobs", "1"], { cwd: dir, env, timeoutMs: 300_000 });
  if (doctor.code === 0) {
    // The promise doctor makes: nothing the profile runs is missing.
    expect(verify.all).not.toMatch(MISSING_TOOL);
    expect(verify.code).toBe(0);
  } else {
    expect(missing.length).toBeGreaterThan(0);
    expect(verify.code).toBe(1);
  }
  return { doctor, report, missing: missing.map((c) => `${c.group}/${c.name}`), verify };
}

const SLOW = 300_000;

describe("doctor and verify agree for every builtin stack", () => {
  test(
    "rust",
    async () => {
      const dir = fixture({
        "devflow.toml": host("rust", ["fmt:check", "lint:static", "build:debug", "test:unit"]),
        "Cargo.toml": `[package]\nname = "dv"\nversion = "0.1.0"\nedition = "2021"\n`,
        "src/lib.rs": `pub fn add(a: i32, b: i32) -> i32 {\n    a + b\n}\n\n#[cfg(test)]\nmod tests {\n    #[test]\n    fn adds() {\n        assert_eq!(super::add(1, 2), 3);\n    }\n}\n`,
      });
      const r = await doctorThenVerify(dir, { CARGO_TARGET_DIR: join(dir, "target") });
      // rustfmt and clippy are needed because the profile formats and lints.
      const tools = r.report.checks.filter((c) => c.group === "stack rust");
      expect(tools.find((c) => c.name === "rustfmt")!.needed).toBe(true);
      expect(tools.find((c) => c.name === "clippy")!.needed).toBe(true);
      expect(tools.find((c) => c.name === "cargo-nextest")!.needed).toBe(false);
    },
    SLOW,
  );

  test("node", async () => {
    const dir = fixture({
      "devflow.toml": host("node", ["lint:static", "build:debug", "test:unit"]),
      "package.json": JSON.stringify({
        name: "dv",
        private: true,
        scripts: { lint: "node -e 0", build: "node -e 0", test: "node test.js" },
      }),
      "test.js": "if (1 + 1 !== 2) process.exit(1);\nconsole.log('node test ok');\n",
    });
    const r = await doctorThenVerify(dir);
    expect(r.report.checks.find((c) => c.group === "stack node" && c.name === "npm")!.needed).toBe(true);
  });

  test("bun", async () => {
    const dir = fixture({
      "devflow.toml": host("bun", ["test:unit"]),
      "package.json": JSON.stringify({ name: "dv", private: true, devDependencies: { helper: "file:./helper" } }),
      "helper/package.json": JSON.stringify({ name: "helper", version: "1.0.0" }),
      "bun.lock": `{\n  "lockfileVersion": 2,\n  "configVersion": 1,\n  "workspaces": {\n    "": {\n      "name": "dv",\n      "devDependencies": {\n        "helper": "file:./helper",\n      },\n    },\n  },\n  "packages": {\n    "helper": ["helper@file:helper", {}],\n  }\n}\n`,
      "a.test.ts": `import { expect, test } from "bun:test";\ntest("adds", () => expect(1 + 1).toBe(2));\n`,
    });
    const r = await doctorThenVerify(dir);
    expect(r.report.checks.find((c) => c.group === "stack bun" && c.name === "bun")!.needed).toBe(true);
  });

  const PY_FILES = {
    // No [project]: nothing to install; mentions neither formatter.
    "pyproject.toml": "[tool.pytest.ini_options]\n",
    "tests/test_a.py": "def test_adds():\n    assert 1 + 1 == 2\n",
  };

  test("python, whole pr profile, no ruff or black on PATH: doctor says they are needed and exits 1", async () => {
    const dir = fixture({ "devflow.toml": host("python", ["fmt:check", "lint:static", "test:unit"]), ...PY_FILES });
    const r = await doctorThenVerify(dir, { PATH: pathWithout("ruff", "black") });
    expect(r.doctor.code).toBe(1);
    expect(r.missing).toEqual(expect.arrayContaining(["stack python/ruff", "stack python/black"]));
    expect(r.verify.all).toContain("'black' was not found on PATH");
  });

  test("python, ruff and black present (stand-ins on PATH): doctor exits 0 and verify passes", async () => {
    const bin = fixture({ ruff: '#!/bin/sh\necho "ruff $*"\n', black: '#!/bin/sh\necho "black $*"\n' });
    const dir = fixture({ "devflow.toml": host("python", ["fmt:check", "lint:static", "test:unit"]), ...PY_FILES });
    const r = await doctorThenVerify(dir, { PATH: `${bin}${delimiter}${pathWithout("ruff", "black")}` });
    const pytest = r.report.checks.find((c) => c.group === "stack python" && c.name === "pytest")!;
    expect(pytest.needed).toBe(true);
    // This machine has pytest for python3; then the whole profile is there.
    if (pytest.status === "ok") expect(r.doctor.code).toBe(0);
  });

  test("python, a profile that only tests: ruff and black are not needed", async () => {
    const dir = fixture({ "devflow.toml": host("python", ["test:unit"]), ...PY_FILES });
    const r = await doctorThenVerify(dir, { PATH: pathWithout("ruff", "black") });
    const byName = Object.fromEntries(r.report.checks.filter((c) => c.group === "stack python").map((c) => [c.name, c]));
    expect(byName.ruff!.needed).toBe(false);
    expect(byName.black!.needed).toBe(false);
    expect(byName.pytest!.needed).toBe(true);
  });

  test("python: 'dwf doctor main' checks the main profile's tools; without a pr profile nothing is planned", async () => {
    const toml = `[project]\nstack = ["python"]\n[runtime]\nprofile = "host"\n[targets]\npr = ["test:unit"]\nmain = ["fmt:check", "lint:static", "test:unit"]\n`;
    const dir = fixture({ "devflow.toml": toml, ...PY_FILES });
    const env = { PATH: pathWithout("ruff", "black") };
    const ruff = (report: { checks: Check[] }) => report.checks.find((c) => c.group === "stack python" && c.name === "ruff")!;
    const pr = await runDwf(["doctor", "--json"], { cwd: dir, env });
    expect(ruff(JSON.parse(pr.stdout)).needed).toBe(false);
    const main = await runDwf(["doctor", "main", "--json"], { cwd: dir, env });
    expect(ruff(JSON.parse(main.stdout)).needed).toBe(true);
    expect(main.code).toBe(1);
    const unknown = await runDwf(["doctor", "nightly"], { cwd: dir, env });
    expect(unknown.code).toBe(1);
    expect(unknown.stdout).toContain("no profile 'nightly' under [targets]");
  });

  test("go, not installed here: doctor says missing (needed) and exits 1; verify fails", async () => {
    const dir = fixture({
      "devflow.toml": host("go", ["lint:static", "build:debug", "test:unit"]),
      "go.mod": "module example.com/dv\n\ngo 1.22\n",
      "dv.go": "package dv\n\nfunc Add(a, b int) int { return a + b }\n",
    });
    const r = await doctorThenVerify(dir, { PATH: pathWithout("go") });
    expect(r.doctor.code).toBe(1);
    expect(r.missing).toContain("stack go/go");
    expect(r.verify.all).toContain("'go' was not found on PATH");
  });

  test("custom (Makefile)", async () => {
    const dir = fixture({
      "devflow.toml": host("custom", ["lint:static", "test:unit"]),
      Makefile: "lint-static:\n\t@echo linted\ntest-unit:\n\t@echo tested\n",
    });
    const r = await doctorThenVerify(dir);
    expect(r.report.checks.find((c) => c.group === "stack custom" && c.name === "make")!.needed).toBe(true);
    expect(r.report.checks.find((c) => c.group === "stack custom" && c.name === "just")!.needed).toBe(false);
  });

  test("custom with make missing: doctor exits 1 and names it", async () => {
    const dir = fixture({ "devflow.toml": host("custom", ["test:unit"]), Makefile: "test-unit:\n\t@echo tested\n" });
    const r = await doctorThenVerify(dir, { PATH: pathWithout("make") });
    expect(r.doctor.code).toBe(1);
    expect(r.missing).toContain("stack custom/make");
  });
});
