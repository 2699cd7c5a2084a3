// Help and message details a user reads first: sub-command help without citty's "(verify)" tail,
// a default-on flag shown as the --no- flag that changes it, a default stated once, the shell's
// `-- cmd` form, --report in the top-level help, the docker CLI's own question, and init's dry
// run saying when the real run would refuse.
import { describe, expect, test } from "bun:test";
import { fixture, runDwf } from "../support/dwf.ts";

const cwd = () => fixture({ Makefile: "test-unit:\n\t@echo ok\n" });

describe("help text", () => {
  test("dwf verify --help: no '(verify)' tail; --no-cache, not '--cache (Default: true)'", async () => {
    const r = await runDwf(["verify", "--help"], { cwd: cwd() });
    expect(r.code).toBe(0);
    expect(r.stdout).toStartWith("Run a target profile from devflow.toml (default: pr); same as 'dwf check:<profile>'\n");
    expect(r.stdout).toContain("Usage: dwf verify [options] [<profile>]");
    expect(r.stdout).not.toContain("(verify)");
    expect(r.stdout).toMatch(/^\s+--no-cache\s+Run every task even when a cached result exists$/m);
    expect(r.stdout).not.toMatch(/^\s+--cache\b/m);
    expect(r.stdout).not.toMatch(/Default: true/i);
    expect(r.stdout).toContain("--report <context>");
  });

  test("dwf --help lists every option of the task commands (as 'dwf verify --help' has them)", async () => {
    const verify = await runDwf(["verify", "--help"], { cwd: cwd() });
    const top = await runDwf(["--help"], { cwd: cwd() });
    const options = [...verify.stdout.matchAll(/^\s+(?:-\w, )?(--[a-z-]+)/gm)].map((m) => m[1]!).filter((o) => o !== "--help");
    expect(options.length).toBeGreaterThan(5);
    const missing = options.filter((o) => !new RegExp(`^\\s+(?:-\\w, )?${o}\\b`, "m").test(top.stdout));
    expect(missing).toEqual([]);
  });

  test("dwf doctor --help: no '(doctor)'; names the profile it checks", async () => {
    const r = await runDwf(["doctor", "--help"], { cwd: cwd() });
    expect(r.stdout).not.toContain("(doctor)");
    expect(r.stdout).toContain("Usage: dwf doctor [options] [<profile>]");
  });

  test("dwf cache prune --help states its default once", async () => {
    const r = await runDwf(["cache", "prune", "--help"], { cwd: cwd() });
    expect(r.code).toBe(0);
    expect(r.stdout.match(/14d/g)).toHaveLength(1);
    expect(r.stdout).not.toContain("(prune)");
  });

  test("dwf shell --help shows the -- cmd form", async () => {
    const r = await runDwf(["shell", "--help"], { cwd: cwd() });
    expect(r.stdout).toContain("Usage: dwf shell [options] [-- cmd…]");
    expect(r.stdout).toContain("dwf shell -- make test");
  });

  test("top-level help lists --report", async () => {
    const r = await runDwf(["--help"], { cwd: cwd() });
    expect(r.stdout).toMatch(/^\s+--report <context>\s+Post a GitHub commit status/m);
  });
});

describe("messages", () => {
  test("a docker daemon that does not answer keeps the CLI's question mark", async () => {
    const r = await runDwf(["verify", "--profile", "container"], {
      cwd: cwd(),
      env: { DWF_ENGINE: "docker", DOCKER_HOST: "unix:///nonexistent/dwf-test-docker.sock" },
    });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("Is the docker daemon running?");
    expect(r.stderr).not.toContain("running?.");
  });

  test("dwf init --dry-run says the real run would refuse files that exist", async () => {
    const dir = fixture({ Makefile: "test-unit:\n\t@echo ok\n", "devflow.toml": '[targets]\npr = ["test:unit"]\n' });
    const r = await runDwf(["init", "--dry-run"], { cwd: dir });
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("==> devflow.toml (exists: 'dwf init' would refuse to replace it)");
    expect(r.stderr).toContain(
      "devflow.toml already exists: 'dwf init' would refuse to write anything (it never overwrites files); 'dwf init --force' replaces it.",
    );
    const forced = await runDwf(["init", "--dry-run", "--force"], { cwd: dir });
    expect(forced.stdout).toContain("==> devflow.toml (exists: --force would replace it)");
    const real = await runDwf(["init"], { cwd: dir });
    expect(real.code).toBe(2);
    expect(real.stderr).toContain("never overwrites");
  });
});
