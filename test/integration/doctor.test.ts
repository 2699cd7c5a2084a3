// `dwf doctor` against fixture projects: the table, exit codes for the configured profile,
// --json, a broken config, external extensions and a missing container engine.
import { describe, expect, setDefaultTimeout, test } from "bun:test";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { fixture, runDwf } from "../support/dwf.ts";

// A PATH with the basic tools but without podman/docker (Debian 12 merges /bin into /usr/bin).
function pathWithout(...programs: string[]): string {
  const dir = fixture({});
  const links: Record<string, string> = {};
  for (const p of ["sh", "make", "python3", "env", "cat", "true"])
    if (!programs.includes(p) && existsSync(`/usr/bin/${p}`)) links[p] = `/usr/bin/${p}`;
  for (const [name, target] of Object.entries(links)) Bun.spawnSync(["ln", "-s", target, join(dir, name)]);
  return dir;
}

const MAKE_PROJECT = { "devflow.toml": '[runtime]\nprofile = "host"\n[targets]\npr = ["test:unit"]\n', Makefile: "test:\n\t@true\n" };

// Integration runs share the machine with other suites; a loaded host must not fail them.
setDefaultTimeout(60_000);

describe("dwf doctor", () => {
  test("a host project with its tools present: one table, exit 0", async () => {
    const r = await runDwf(["doctor"], { cwd: fixture(MAKE_PROJECT) });
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("stack custom");
    expect(r.stdout).toMatch(/make\s+ok\s+GNU Make/);
    expect(r.stdout).toMatch(/config\s+ok/);
    expect(r.stdout).toMatch(/cache root\s+ok/);
    expect(r.stdout).toContain("container engine");
    expect(r.stdout).toContain("Everything the configured profile needs is present.");
  });

  test("a cache root dwf cannot create (a file is in the way) fails, exit 1", async () => {
    const dir = fixture({ ...MAKE_PROJECT, "not-a-dir": "plain file\n" });
    const r = await runDwf(["doctor"], { cwd: dir, env: { DWF_CACHE_ROOT: join(dir, "not-a-dir/cache") } });
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/cache root\s+failed\s+\S*not-a-dir\/cache is not writable/);
  });

  test("setup:doctor is the same command", async () => {
    const r = await runDwf(["setup:doctor"], { cwd: fixture(MAKE_PROJECT) });
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("dwf doctor");
  });

  test("a required tool missing under the host profile: exit 1 with how to install it", async () => {
    const dir = fixture({ "devflow.toml": '[runtime]\nprofile = "host"\n[project]\nstack = ["go"]\n[targets]\npr = ["test:unit"]\n' });
    const r = await runDwf(["doctor"], { cwd: dir, env: { PATH: pathWithout("go") } });
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/go\s+missing\s+not found/);
    expect(r.stdout).toContain("fix: install Go");
    expect(r.stdout).toContain("(needed)");
  });

  test("--json reports every check for scripts", async () => {
    const r = await runDwf(["doctor", "--json"], { cwd: fixture(MAKE_PROJECT) });
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout);
    expect(report.ok).toBe(true);
    expect(report.runtime).toBe("host");
    const names = report.checks.map((c: { name: string }) => c.name);
    for (const n of ["config", "custom", "make", "podman", "docker", "cache root"]) expect(names).toContain(n);
  });

  test("an invalid config is reported, exit 1", async () => {
    const r = await runDwf(["doctor"], { cwd: fixture({ "devflow.toml": "[runtime]\nprofile = 'cloud'\n" }) });
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/config\s+failed/);
    expect(r.stdout).toContain("runtime.profile");
  });

  test("the container profile without an engine: exit 1", async () => {
    const dir = fixture({ ...MAKE_PROJECT, "devflow.toml": '[runtime]\nprofile = "container"\n[targets]\npr = ["test:unit"]\n' });
    const r = await runDwf(["doctor"], { cwd: dir, env: { PATH: pathWithout() } });
    expect(r.code).toBe(1);
    expect(r.stdout).toContain("no usable container engine");
    // Host tools are not needed when tasks run in the image.
    expect(r.stdout).not.toMatch(/make\s+missing/);
  });

  test("external extensions: discoverable ones are listed, broken ones flagged", async () => {
    const dir = fixture({
      ...MAKE_PROJECT,
      "devflow.toml":
        '[runtime]\nprofile = "host"\n[targets]\npr = ["test:unit"]\n[extensions.good]\nsource = "path"\npath = "ext-good"\n[extensions.bad]\nsource = "path"\npath = "ext-bad"\n',
      "ext-good": "#!/bin/sh\necho '[\"lint\"]'\n",
      "ext-bad": "#!/bin/sh\necho nope\n",
    });
    const r = await runDwf(["doctor"], { cwd: dir });
    expect(r.stdout).toMatch(/good\s+ok\s+external, discoverable .*lint/);
    expect(r.stdout).toMatch(/skipped\s+failed\s+extension 'bad'/);
    // Not required, so the profile still runs.
    expect(r.code).toBe(0);
  });
});
