// External extensions through the compiled binary: the original devflow shape works as-is,
// the Python example runs end to end, and hostile extensions each give one clear error in time.
import { describe, expect, setDefaultTimeout, test } from "bun:test";
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
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

/**
 * The hooks --describe adds to the original protocol, through the compiled binary: an extension
 * that prints tools/describe.json for --describe, builds out/ (counting its runs outside the
 * tree), lints with `acmetool` from PATH and warms lint:static.
 */
describe("external extensions: task outputs, tool pins and warm actions", () => {
  function hooksProject(describe: Record<string, unknown>, opts: { warm?: string } = {}) {
    const outside = fixture({});
    const counter = join(outside, "count");
    const calls = join(outside, "calls");
    const toolDir = join(outside, "bin");
    const ext = [
      "#!/bin/sh",
      `echo "$1" >> ${calls}`,
      'case "$1" in',
      "  --describe) cat tools/describe.json ;;",
      `  --discover) echo '["build:debug","test:unit","lint:static"]' ;;`,
      "  --build-action)",
      "    read -r input",
      '    case "$input" in',
      `      *'"primary":"build"'*) echo '{"program":"sh","args":["-c","echo build >> ${counter}; mkdir -p out; cat src.txt > out/app.txt"]}' ;;`,
      `      *'"primary":"test"'*) echo '{"program":"sh","args":["-c","cat out/app.txt"]}' ;;`,
      `      *'"primary":"lint"'*) echo '{"program":"acmetool","args":["lint"]}' ;;`,
      "    esac ;;",
      `  --warm-action) cat >/dev/null; ${opts.warm ?? `echo '{"program":"sh","args":["-c","echo warmed-by-acme"]}'`} ;;`,
      "  *) exit 1 ;;",
      "esac",
      "",
    ].join("\n");
    const dir = fixture(
      {
        "devflow.toml": `[runtime]\nprofile = "host"\n\n[targets]\npr = ["build:debug", "test:unit", "lint:static"]\n\n[extensions.acme]\nsource = "path"\npath = "tools/devflow-ext-acme"\nrequired = true\n`,
        "tools/devflow-ext-acme": ext,
        "tools/describe.json": JSON.stringify({ api_version: 1, ...describe }),
        ".acmetool-version": "1.4.2\n",
        "src.txt": "v1\n",
        ".gitignore": "out/\n",
      },
      { git: true },
    );
    // A host tool that reports its version the usual way.
    mkdirSync(toolDir, { recursive: true });
    writeFileSync(join(toolDir, "acmetool"), '#!/bin/sh\nif [ "$1" = "--version" ]; then echo "acmetool 1.4.2"; else echo linted; fi\n');
    chmodSync(join(toolDir, "acmetool"), 0o755);
    const env = { PATH: `${toolDir}:${process.env.PATH}` };
    const read = (file: string) => (existsSync(file) ? readFileSync(file, "utf8").trim().split("\n") : []);
    return { dir, env, builds: () => read(counter).length, calls: () => read(calls) };
  }
  const statuses = (stdout: string) =>
    Object.fromEntries((JSON.parse(stdout).tasks as { command: string; status: string }[]).map((t) => [t.command, t.status]));
  const pin = (version: string) => ({ acmetool: [{ file: ".acmetool-version", version, probe: ["acmetool", "--version"] }] });

  test("outputs it declares are kept with a local result and put back on a hit", async () => {
    const p = hooksProject({ task_outputs: { build: ["out"] } });
    expect((await runDwf(["verify"], { cwd: p.dir, env: p.env })).code).toBe(0);
    expect(p.builds()).toBe(1);
    Bun.spawnSync(["rm", "-rf", join(p.dir, "out")]);
    const again = await runDwf(["verify", "--json"], { cwd: p.dir, env: p.env });
    expect(again.code).toBe(0);
    expect(statuses(again.stdout)).toEqual({ "build:debug": "cached", "test:unit": "cached", "lint:static": "cached" });
    expect(readFileSync(join(p.dir, "out/app.txt"), "utf8")).toBe("v1\n");
    expect(p.builds()).toBe(1);
  });

  test("a host tool matching its exact pin gets a shared key, without the machine variables it names", async () => {
    const p = hooksProject({ tool_pins: pin("1.4.2"), machine_env: ["ACMETOOL_HOME"] });
    const first = await runDwf(["lint:static", "--explain"], { cwd: p.dir, env: { ...p.env, ACMETOOL_HOME: "/opt/acme" } });
    expect(first.code).toBe(0);
    expect(first.stderr).toMatch(/lint:static \[acme\] key [0-9a-f]{12}: shared: host tool pinned by \.acmetool-version \(1\.4\.2\)/);
    // Where the tool lives on this machine is not part of a portable key: still a hit.
    const moved = await runDwf(["lint:static", "--json"], { cwd: p.dir, env: { ...p.env, ACMETOOL_HOME: "/home/me/acme" } });
    expect(statuses(moved.stdout)).toEqual({ "lint:static": "cached" });
  });

  test("a pin the tool does not match, or one that is not exact, keeps the task local only", async () => {
    const mismatch = hooksProject({ tool_pins: pin("9.9.9") });
    const a = await runDwf(["lint:static", "--explain"], { cwd: mismatch.dir, env: mismatch.env });
    expect(a.code).toBe(0);
    expect(a.stderr).toMatch(
      /lint:static \[acme\] key [0-9a-f]{12}: local only: host tool \S+\/acmetool reports 'acmetool 1\.4\.2', \.acmetool-version pins 9\.9\.9/,
    );
    const loose = hooksProject({ tool_pins: pin("1.4") });
    const b = await runDwf(["lint:static", "--explain"], { cwd: loose.dir, env: loose.env });
    expect(b.code).toBe(0);
    expect(b.stderr).toMatch(/local only: host tool \S+\/acmetool is pinned by \.acmetool-version to '1\.4', not an exact version/);
  });

  test("dwf warm runs the warm action of a command it lists under 'warm', every time; others have nothing to warm", async () => {
    const p = hooksProject({ warm: ["lint:static"] });
    const warm = await runDwf(["warm", "lint:static", "test:unit", "--verbose"], { cwd: p.dir, env: p.env });
    expect(warm.code).toBe(0);
    expect(warm.all).toContain("warmed-by-acme");
    expect(warm.all).toContain("nothing to warm");
    expect(warm.all).not.toContain("linted");
    // Asked about lint:static only: test:unit is not in its list.
    expect(p.calls().filter((c) => c === "--warm-action")).toHaveLength(1);
    const again = await runDwf(["warm", "lint:static", "--json"], { cwd: p.dir, env: p.env });
    expect(JSON.parse(again.stdout).tasks.map((t: { id: string; status: string }) => [t.id, t.status])).toEqual([
      ["lint:static@acme", "passed"],
    ]);
  });

  test("a warm action that crashes is a warning, not a failed run; without 'warm' it is never asked", async () => {
    const crashing = hooksProject({ warm: ["lint"] }, { warm: "kill -9 $$" });
    const r = await runDwf(["warm", "lint:static"], { cwd: crashing.dir, env: crashing.env });
    expect(r.code).toBe(0);
    expect(r.stderr).toContain("warning: extension 'acme'");
    expect(r.stderr).toContain("--warm-action for lint:static: crashed (killed by SIGKILL); nothing is warmed for it.");
    const silent = hooksProject({}, { warm: "kill -9 $$" });
    const s = await runDwf(["warm", "lint:static"], { cwd: silent.dir, env: silent.env });
    expect(s.code).toBe(0);
    expect(s.all).toContain("nothing to warm");
    expect(silent.calls()).not.toContain("--warm-action");
  });

  test("a bad value in one of the new fields is exit 2, naming the extension, the field and the value", async () => {
    const p = hooksProject({ task_outputs: { build: ["../shared/out"] } });
    const r = await runDwf(["verify", "--dry-run"], { cwd: p.dir, env: p.env });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`extension 'acme'`);
    expect(r.stderr).toContain(`invalid 'task_outputs': 'task_outputs.build[0]' is "../shared/out"`);
  });
});
