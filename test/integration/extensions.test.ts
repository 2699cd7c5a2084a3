// External extensions through the compiled binary: the original devflow shape works as-is,
// the Python example runs end to end, and hostile extensions each give one clear error in time.
import { describe, expect, setDefaultTimeout, test } from "bun:test";
import { chmodSync, existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ROOT, fixture, runDwf } from "../support/dwf.ts";

const EXAMPLE = readFileSync(join(ROOT, "examples/devflow-ext-python-example"), "utf8");

/** The shape of the original devflow's example: only --discover and --build-action. */
const ORIGINAL = `#!/usr/bin/env python3
import json, sys
if sys.argv[1] == "--discover":
    print(json.dumps(["test:unit", "lint"]))
elif sys.argv[1] == "--build-action":
    ref = json.load(sys.stdin)
    if ref["primary"] == "test":
        print(json.dumps({"program": "python3", "args": ["-c", "print('unit tests ran')"], "env": {}}))
    else:
        print(json.dumps({"program": "true", "args": [], "env": {}}))
else:
    sys.exit(1)
`;

function project(ext: string, extra: Record<string, string> = {}, settings = "") {
  return fixture({
    "devflow.toml": `[targets]\npr = ["test:unit"]\n\n[extensions.acme]\nsource = "path"\npath = "tools/devflow-ext-acme"\nrequired = true\n${settings}`,
    "tools/devflow-ext-acme": ext,
    ...extra,
  });
}

// Integration runs share the machine with other suites; a loaded host must not fail them.
setDefaultTimeout(60_000);

describe("external extensions", () => {
  test("the original devflow example shape works unchanged", async () => {
    const dir = project(ORIGINAL);
    const r = await runDwf(["verify", "--verbose"], { cwd: dir });
    expect(r.code).toBe(0);
    expect(r.all).toContain("unit tests ran");
    expect(r.all).toContain("acme");
  });

  test("the Python example runs, declines what it cannot do, and honours --describe", async () => {
    const dir = fixture({
      "devflow.toml": `[targets]\npr = ["fmt:check", "lint:static", "test:unit", "test:integration"]\n\n[extensions.pyex]\nsource = "path"\npath = "devflow-ext-python-example"\n`,
      "devflow-ext-python-example": EXAMPLE,
      "tests/test_ok.py": "import unittest\nclass T(unittest.TestCase):\n    def test_ok(self):\n        print('example unit test')\n",
    });
    const plan = await runDwf(["verify", "--dry-run", "--json"], { cwd: dir });
    expect(plan.code).toBe(0);
    const json = JSON.parse(plan.stdout);
    const text = JSON.stringify(json);
    expect(text).toContain("unittest");
    expect(text).toContain("pyex declined test:integration");
    // --describe's env and cache mount reach the task.
    expect(text).toContain("PYTHONUNBUFFERED");
    expect(text).toContain("PYTHONPYCACHEPREFIX");
    const run = await runDwf(["verify"], { cwd: dir });
    expect(run.code).toBe(0);
    expect(run.all).toMatch(/3 passed, .*1 skipped/);
  });

  test("a relative program path is resolved against the project root", async () => {
    const ext = `#!/bin/sh\ncase "$1" in --discover) echo '["test:unit"]';; --build-action) cat >/dev/null; echo '{"program":"./run-tests","args":["a b"]}';; *) exit 1;; esac\n`;
    const dir = project(ext, { "run-tests": `#!/bin/sh\necho "ran from root with: $1"\n` });
    const r = await runDwf(["verify", "--verbose"], { cwd: dir });
    expect(r.code).toBe(0);
    expect(r.all).toContain("ran from root with: a b");
  });

  test("a relative program path escaping the project is rejected", async () => {
    const ext = `#!/bin/sh\ncase "$1" in --discover) echo '["test:unit"]';; --build-action) cat >/dev/null; echo '{"program":"../../bin/evil","args":[]}';; *) exit 1;; esac\n`;
    const r = await runDwf(["verify"], { cwd: project(ext) });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("extension 'acme'");
    expect(r.stderr).toContain("points outside the project root");
  });

  test("an extension that hangs is stopped at its time limit", async () => {
    const dir = project(`#!/bin/sh\nsleep 60\n`, {}, "timeout = 1\n");
    const r = await runDwf(["verify", "--dry-run"], { cwd: dir, timeoutMs: 30_000 });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("extension 'acme'");
    expect(r.stderr).toContain("did not answer within 1 s");
    expect(r.ms).toBeLessThan(20_000);
    expect(r.stderr).not.toContain("    at ");
  });

  test("an extension that prints garbage names what it printed", async () => {
    const r = await runDwf(["verify", "--dry-run"], { cwd: project(`#!/bin/sh\necho 'hello, I am not JSON'\n`) });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("--discover");
    expect(r.stderr).toContain("not JSON");
    expect(r.stderr).toContain("hello, I am not JSON");
  });

  test("an extension that prints JSON of the wrong shape says where", async () => {
    const r = await runDwf(["verify", "--dry-run"], { cwd: project(`#!/bin/sh\necho '{"capabilities": 3}'\n`) });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("wrong shape");
  });

  test("an extension that prints 10 MB is cut off", async () => {
    const dir = project(`#!/bin/sh\nhead -c 10485760 /dev/zero | tr '\\0' 'x'\n`);
    const r = await runDwf(["verify", "--dry-run"], { cwd: dir, timeoutMs: 30_000 });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("printed more than 1024 KiB");
    expect(r.stderr.length).toBeLessThan(4096);
  });

  test("an extension that exits 3 on --discover fails with its stderr", async () => {
    const r = await runDwf(["verify", "--dry-run"], { cwd: project(`#!/bin/sh\necho 'config missing' >&2\nexit 3\n`) });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("exited with code 3");
    expect(r.stderr).toContain("config missing");
  });

  test("an extension that exits 3 on --build-action declines that command", async () => {
    const ext = `#!/bin/sh\ncase "$1" in --discover) echo '["test"]';; --build-action) echo 'not for this repo' >&2; exit 3;; *) exit 1;; esac\n`;
    const r = await runDwf(["test:unit"], { cwd: project(ext) });
    expect(r.code).toBe(0);
    expect(r.all).toContain("acme declined test:unit (exit 3): not for this repo");
    // The profile had nothing else: it checked nothing, which is not a pass.
    const profile = await runDwf(["verify"], { cwd: project(ext) });
    expect(profile.code).toBe(1);
    expect(profile.all).toContain("ran nothing");
  });

  test("a file that is not executable is named, with the fix", async () => {
    const dir = project(`#!/bin/sh\necho '["test"]'\n`);
    chmodSync(join(dir, "tools/devflow-ext-acme"), 0o644);
    const r = await runDwf(["verify", "--dry-run"], { cwd: dir });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("is not executable");
    expect(r.stderr).toContain("chmod +x");
  });

  test("a missing extension that is not required is skipped with a warning", async () => {
    const dir = fixture({
      "devflow.toml": `[targets]\npr = ["build"]\n\n[extensions.ghost]\nsource = "path"\npath = "nowhere/devflow-ext-ghost"\n`,
      Makefile: "build:\n\t@echo built\n",
    });
    const r = await runDwf(["verify"], { cwd: dir });
    expect(r.code).toBe(0);
    expect(r.stderr).toContain("warning:");
    expect(r.stderr).toContain("does not exist");
    expect(r.stderr).toContain("Skipping extension 'ghost'");
  });

  test("a declared stack is found as devflow-ext-<name> on PATH", async () => {
    const dir = fixture({
      "devflow.toml": `[project]\nstack = ["acme"]\n[targets]\npr = ["test:unit"]\n`,
      "bin/devflow-ext-acme": ORIGINAL,
    });
    const r = await runDwf(["verify", "--verbose"], { cwd: dir, env: { PATH: `${join(dir, "bin")}:${process.env.PATH}` } });
    expect(r.code).toBe(0);
    expect(r.all).toContain("unit tests ran");
  });

  test("under the container profile an untrusted extension is not run on the host", async () => {
    const ext = `#!/bin/sh\ntouch ran-on-host\ncase "$1" in --discover) echo '["test:unit"]';; --build-action) cat >/dev/null; echo '{"program":"true","args":[]}';; *) exit 1;; esac\n`;
    const dir = project(ext);
    const r = await runDwf(["verify", "--dry-run", "--profile", "container"], { cwd: dir });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("is not trusted");
    expect(r.stderr).toContain("trusted = true");
    expect(existsSync(join(dir, "ran-on-host"))).toBe(false);
    // Opting in: the extension runs on the host, its action in the container.
    writeFileSync(join(dir, "devflow.toml"), readFileSync(join(dir, "devflow.toml"), "utf8") + "trusted = true\n");
    const trusted = await runDwf(["verify", "--dry-run", "--profile", "container"], { cwd: dir });
    expect(trusted.code).toBe(0);
    expect(trusted.stdout).toContain("runtime: container");
  });
});
