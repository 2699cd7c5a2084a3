// `dwf init` on fixture repositories of every builtin stack and a multi-stack one: the files
// it writes, that `dwf verify --dry-run` then succeeds, and that it never overwrites work.
import { describe, expect, setDefaultTimeout, test } from "bun:test";
import { existsSync, readFileSync, symlinkSync, writeFileSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll } from "bun:test";
import { fixture, runDwf as runDwfRaw } from "../support/dwf.ts";
import { currentVersion, startReleaseServer } from "../support/release-server.ts";

// The workflow init writes carries the pinned release's checksum: read from this loopback release.
const release = startReleaseServer({ [`v${currentVersion()}`]: { SHA256SUMS: `${"c".repeat(64)}  dwf-linux-x64.tar.gz\n` } });
afterAll(() => release.stop());
const runDwf = (args: string[], opts: { cwd: string; env?: Record<string, string | undefined> }) =>
  runDwfRaw(args, { ...opts, env: { DWF_DOWNLOAD_BASE: release.base, ...opts.env } });

// No container engine on PATH: the config says "auto" and verify plans on the host.
const NO_ENGINE = {
  PATH:
    "/usr/local/bin:/usr/bin:/bin"
      .split(":")
      .filter((d) => !existsSync(join(d, "podman")) && !existsSync(join(d, "docker")))
      .join(":") || "/nonexistent",
};
const BUN_DIR = join(process.execPath, "..");

const STACKS: Record<string, Record<string, string>> = {
  rust: { "Cargo.toml": '[package]\nname = "demo"\nversion = "0.1.0"\nedition = "2021"\n', "src/main.rs": "fn main() {}\n" },
  node: { "package.json": '{"name":"demo","scripts":{"lint":"eslint .","test":"node --test"}}\n', "package-lock.json": "{}\n" },
  bun: { "package.json": '{"name":"demo"}\n', "bun.lock": "{}\n" },
  python: { "pyproject.toml": '[project]\nname = "demo"\n[tool.ruff]\n', "tests/test_x.py": "" },
  go: { "go.mod": "module example.com/demo\n\ngo 1.22\n", "main.go": "package main\nfunc main() {}\n" },
  custom: { Makefile: "lint:\n\t@true\ntest:\n\t@true\n" },
};

// Integration runs share the machine with other suites; a loaded host must not fail them.
setDefaultTimeout(60_000);

describe("dwf init", () => {
  for (const [stack, files] of Object.entries(STACKS)) {
    test(`${stack}: writes a config naming only runnable commands, then verify --dry-run succeeds`, async () => {
      const dir = fixture(files);
      const env = { PATH: `${NO_ENGINE.PATH}:${BUN_DIR}` };
      const r = await runDwf(["init"], { cwd: dir, env });
      expect(r.code).toBe(0);
      expect(r.stdout).toContain("wrote devflow.toml");
      expect(r.stdout).toContain("wrote Dockerfile.devflow");
      expect(r.stdout).toContain("dwf verify");
      const config = readFileSync(join(dir, "devflow.toml"), "utf8");
      expect(config).toContain(`stack = ["${stack}"]`);
      expect(config).toContain('profile = "auto"');
      expect(config).toMatch(/No container\s*\n?#? ?engine/);
      const plan = await runDwf(["verify", "--dry-run"], { cwd: dir, env });
      expect(plan.stderr).not.toContain("error:");
      expect(plan.code).toBe(0);
      expect(plan.stdout).not.toContain("skip:");
      const main = await runDwf(["verify", "main", "--dry-run"], { cwd: dir, env });
      expect(main.code).toBe(0);
    });
  }

  test("custom: commands the Makefile has no target for are left out", async () => {
    const dir = fixture(STACKS.custom!);
    await runDwf(["init"], { cwd: dir, env: NO_ENGINE });
    const config = readFileSync(join(dir, "devflow.toml"), "utf8");
    expect(config).toContain('pr = ["lint:static", "test:unit"]');
  });

  test("multi-stack: every detected stack gets its commands and its toolchain", async () => {
    const dir = fixture({ ...STACKS.rust, ...STACKS.python, ...STACKS.go });
    const r = await runDwf(["init"], { cwd: dir, env: { PATH: process.env.PATH } });
    expect(r.code).toBe(0);
    const config = readFileSync(join(dir, "devflow.toml"), "utf8");
    expect(config).toContain('stack = ["rust", "python", "go"]');
    const dockerfile = readFileSync(join(dir, "Dockerfile.devflow"), "utf8");
    expect(dockerfile).toMatch(/^FROM debian:bookworm-\d{8}-slim$/m);
    expect(dockerfile).toContain("useradd --uid 1001");
    expect(dockerfile).toMatch(/^USER dwf$/m);
    expect(dockerfile).toContain('ENTRYPOINT ["/usr/bin/tini", "--"]');
    for (const s of ["rust", "python", "go"]) expect(dockerfile).toContain(`# ${s} toolchain`);
    // A container engine is on this PATH, so the config says container; the plan needs no image yet.
    expect(config).toContain('profile = "container"');
    const inContainer = await runDwf(["verify", "--dry-run"], { cwd: dir });
    expect(inContainer.code).toBe(0);
    expect(inContainer.stdout).toContain("runtime: container");
    const plan = await runDwf(["verify", "--dry-run", "--json", "--profile", "host"], { cwd: dir });
    expect(plan.code).toBe(0);
    const stacks = new Set(JSON.parse(plan.stdout).tasks.map((t: { stack: string }) => t.stack));
    expect([...stacks].sort()).toEqual(["go", "python", "rust"]);
  });

  test("with a container engine on PATH the config chooses the container profile", async () => {
    const bin = mkdtempSync(join(tmpdir(), "dwf-bin-"));
    try {
      writeFileSync(join(bin, "podman"), "#!/bin/sh\nexit 0\n", { mode: 0o755 });
      const dir = fixture(STACKS.go!);
      const r = await runDwf(["init", "--dry-run"], { cwd: dir, env: { PATH: `${bin}:${NO_ENGINE.PATH}` } });
      expect(r.code).toBe(0);
      expect(r.stdout).toContain('profile = "container"');
      expect(r.stdout).toContain("podman was found on PATH");
    } finally {
      rmSync(bin, { recursive: true, force: true });
    }
  });

  test("stacks named as arguments are used instead of detection; unknown ones are refused", async () => {
    const dir = fixture({ Makefile: "test:\n\t@true\n" });
    const r = await runDwf(["init", "go"], { cwd: dir, env: NO_ENGINE });
    expect(r.code).toBe(0);
    expect(readFileSync(join(dir, "devflow.toml"), "utf8")).toContain('stack = ["go"]');
    const bad = await runDwf(["init", "--dry-run", "rsut"], { cwd: fixture({}), env: NO_ENGINE });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("unknown stack 'rsut'");
    expect(bad.stderr).toContain("rust");
  });

  test("an empty directory: says no stack was found and how to name one", async () => {
    const r = await runDwf(["init"], { cwd: fixture({}), env: NO_ENGINE });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("no known stack detected");
    expect(r.stderr).toContain("dwf init <stack");
  });

  test("--dry-run prints the files and writes nothing", async () => {
    const dir = fixture(STACKS.rust!);
    const r = await runDwf(["init", "--dry-run"], { cwd: dir, env: NO_ENGINE });
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("==> devflow.toml");
    expect(r.stdout).toContain("==> Dockerfile.devflow");
    expect(r.stdout).toContain("[targets]");
    for (const f of ["devflow.toml", "Dockerfile.devflow", ".github", "docker-bake.hcl"]) expect(existsSync(join(dir, f))).toBe(false);
  });

  test("refuses to overwrite without --force, replaces with it", async () => {
    const dir = fixture({ ...STACKS.go, "devflow.toml": "# mine\n" });
    const r = await runDwf(["init"], { cwd: dir, env: NO_ENGINE });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("devflow.toml already exists");
    expect(r.stderr).toContain("--force");
    expect(readFileSync(join(dir, "devflow.toml"), "utf8")).toBe("# mine\n");
    expect(existsSync(join(dir, "Dockerfile.devflow"))).toBe(false);
    const forced = await runDwf(["init", "--force"], { cwd: dir, env: NO_ENGINE });
    expect(forced.code).toBe(0);
    expect(readFileSync(join(dir, "devflow.toml"), "utf8")).toContain("[targets]");
  });

  test("never writes through a symlink pointing out of the project, even with --force", async () => {
    const outside = mkdtempSync(join(tmpdir(), "dwf-outside-"));
    try {
      writeFileSync(join(outside, "victim"), "keep me\n");
      const dir = fixture(STACKS.go!);
      symlinkSync(join(outside, "victim"), join(dir, "Dockerfile.devflow"));
      const r = await runDwf(["init", "--force"], { cwd: dir, env: NO_ENGINE });
      expect(r.code).toBe(2);
      expect(r.stderr).toContain("symlink pointing outside the project");
      expect(readFileSync(join(outside, "victim"), "utf8")).toBe("keep me\n");
      expect(existsSync(join(dir, "devflow.toml"))).toBe(false);
    } finally {
      rmSync(outside, { recursive: true, force: true });
    }
  });

  test("writes the CI workflow from the CI renderer", async () => {
    const dir = fixture(STACKS.go!);
    const r = await runDwf(["init"], { cwd: dir, env: NO_ENGINE });
    expect(r.code).toBe(0);
    const workflow = readFileSync(join(dir, ".github/workflows/ci.yml"), "utf8");
    expect(workflow).toContain("dwf ci generate");
    const check = await runDwf(["ci", "check"], { cwd: dir, env: NO_ENGINE });
    expect(check.code).toBe(0);
  });

  test("in a subfolder of a git repository: warns that the workflow written there will not run", async () => {
    const repo = fixture({ "svc/go.mod": STACKS.go!["go.mod"]! }, { git: true });
    const r = await runDwf(["init"], { cwd: join(repo, "svc") });
    expect(r.code).toBe(0);
    expect(r.stderr).toContain("GitHub Actions only runs workflows from");
    expect(r.stderr).toContain("Run 'dwf init' at the repository root");
    const atRoot = await runDwf(["init"], { cwd: fixture(STACKS.go!, { git: true }) });
    expect(atRoot.code).toBe(0);
    expect(atRoot.stderr).not.toContain("GitHub Actions only runs workflows from");
  });
});

test("a hand-written CI workflow is kept, and the rest is still written", async () => {
  const mine = "name: mine\non: push\njobs: {}\n";
  const dir = fixture({ Makefile: "test-unit:\n\t@true\n", ".github/workflows/ci.yml": mine });
  const r = await runDwf(["init"], { cwd: dir });
  expect(r.code).toBe(0);
  expect(r.all).toContain("kept your .github/workflows/ci.yml (not written by dwf)");
  expect(readFileSync(join(dir, ".github/workflows/ci.yml"), "utf8")).toBe(mine);
  expect(existsSync(join(dir, "devflow.toml"))).toBe(true);
  expect(existsSync(join(dir, "Dockerfile.devflow"))).toBe(true);
});
