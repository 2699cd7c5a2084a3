// The python stack without uv, through the compiled binary on the host: setup:deps makes and
// repairs the project's .venv (offline: empty requirements), other commands use its interpreter.
import { describe, expect, test } from "bun:test";
import { mkdirSync, readFileSync, readlinkSync, statSync, symlinkSync } from "node:fs";
import { join } from "node:path";
import { fixture, runDwf } from "../support/dwf.ts";

const PROJECT = {
  "requirements.txt": "",
  ".gitignore": ".venv/\n",
  "tests/test_ok.py": "def test_ok():\n    assert True\n",
};

function venvPython(dir: string, code: string): string {
  const r = Bun.spawnSync([join(dir, ".venv/bin/python"), "-c", code], { stdout: "pipe", stderr: "pipe" });
  if (r.exitCode !== 0) throw new Error(r.stderr.toString());
  return r.stdout.toString().trim();
}

async function plannedArgv(dir: string, command: string): Promise<string[]> {
  const r = await runDwf([command, "--dry-run", "--json"], { cwd: dir });
  expect(r.code).toBe(0);
  const task = JSON.parse(r.stdout).tasks.find((t: { command: string }) => t.command === command);
  return task.argv;
}

describe("python without uv: project .venv", () => {
  test("setup:deps creates .venv, reuses it, and tests then run with its interpreter", async () => {
    const dir = fixture(PROJECT, { git: true });
    expect((await plannedArgv(dir, "test:unit")).slice(1)).toEqual(["-m", "pytest", "tests"]);

    const first = await runDwf(["setup:deps"], { cwd: dir });
    expect(first.code).toBe(0);
    // A real venv: its prefix differs from the interpreter it was made from.
    expect(venvPython(dir, "import sys; print(sys.prefix != sys.base_prefix)")).toBe("True");
    const made = statSync(join(dir, ".venv/pyvenv.cfg")).ino;

    const again = await runDwf(["setup:deps"], { cwd: dir });
    expect(again.code).toBe(0);
    expect(again.all).not.toContain("recreating");
    expect(statSync(join(dir, ".venv/pyvenv.cfg")).ino).toBe(made);

    expect(await plannedArgv(dir, "test:unit")).toEqual([".venv/bin/python", "-m", "pytest", "tests"]);
    // The venv sees the interpreter's own packages: a pytest the machine provides still runs the
    // tests, now with the venv's interpreter (and whatever the requirements put in it).
    expect(readFileSync(join(dir, ".venv/pyvenv.cfg"), "utf8")).toContain("include-system-site-packages = true");
    const t = await runDwf(["test:unit", "-V"], { cwd: dir });
    expect(t.all).toContain("1 passed");
    expect(t.code).toBe(0);
  }, 90_000);

  test("a .venv from another machine (dangling interpreter link) is recreated before the tests run", async () => {
    const dir = fixture(PROJECT, { git: true });
    mkdirSync(join(dir, ".venv/bin"), { recursive: true });
    symlinkSync("/nonexistent/host-only/bin/python3.11", join(dir, ".venv/bin/python"));

    const r = await runDwf(["test:unit", "-V"], { cwd: dir });
    expect(r.all).toMatch(/passed setup:deps \[python\][^\n]*\.venv not installed by dwf yet/);
    expect(r.all).toContain("recreating .venv");
    expect(r.all).toContain("1 passed");
    expect(r.code).toBe(0);
    expect(readlinkSync(join(dir, ".venv/bin/python"))).not.toContain("nonexistent");
    expect(venvPython(dir, "print('runs')")).toBe("runs");

    // Without automatic installs, setup:deps by name repairs it.
    symlinkSync("/nonexistent/host-only/bin/python3.11", join(dir, ".venv/bin/python.tmp"));
    Bun.spawnSync(["mv", "-f", join(dir, ".venv/bin/python.tmp"), join(dir, ".venv/bin/python")]);
    const setup = await runDwf(["setup:deps", "--no-install"], { cwd: dir });
    expect(setup.code).toBe(0);
    expect(setup.all).toContain("recreating .venv");
    expect(venvPython(dir, "print('runs')")).toBe("runs");
  }, 90_000);
});
