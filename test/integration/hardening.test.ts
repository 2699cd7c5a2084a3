// Hardening through the compiled binary: fuzzed configs, Ctrl-C/SIGTERM mid-run, hostile
// extension argv, secrets in every output mode, and file writes that must stay in the project.
import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { cleanEnv, dwfBinary, fixture, runDwf } from "../support/dwf.ts";
import { makeCase, messageProblem } from "../stress/fuzz-gen.ts";

function pids(marker: string): number[] {
  const r = Bun.spawnSync(["pgrep", "-f", marker], { stdout: "pipe" });
  return r.stdout.toString().split("\n").filter(Boolean).map(Number);
}

function killAll(marker: string): void {
  for (const pid of pids(marker)) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {}
  }
}

describe("fuzzed devflow.toml through the binary", () => {
  test("10 fixed-seed cases each end with exit 0 or 2 and one short paragraph", async () => {
    const dir = fixture({ Makefile: "test-unit:\n\t@true\nlint-static:\n\t@true\n" });
    // Ids picked to cover a spread of mutations (deep nesting, bad UTF-8, huge values, …).
    for (let id = 0; id < 10; id++) {
      const c = makeCase(777, id);
      writeFileSync(join(dir, "devflow.toml"), c.bytes);
      const r = await runDwf(["verify", "--dry-run"], { cwd: dir, env: { DWF_PROFILE: "host" }, timeoutMs: 15_000 });
      expect({ id, mutation: c.mutation, code: r.code === 0 || r.code === 2 ? "0|2" : r.code }).toEqual({
        id,
        mutation: c.mutation,
        code: "0|2",
      });
      if (r.code === 2) expect({ id, problem: messageProblem(r.stderr) }).toEqual({ id, problem: null });
    }
  });

  test("a FIFO in place of devflow.toml is an error, not a hang", async () => {
    const dir = fixture({ Makefile: "test-unit:\n\t@true\n" });
    Bun.spawnSync(["mkfifo", join(dir, "devflow.toml")]);
    const r = await runDwf(["verify", "--dry-run"], { cwd: dir, timeoutMs: 10_000 });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("is not a regular file");
  });
});

describe("interrupts", () => {
  for (const [signal, code] of [
    ["SIGINT", 130],
    ["SIGTERM", 143],
  ] as const) {
    test(`${signal} mid-run stops every task process and grandchild, exits ${code}, caches nothing`, async () => {
      const marker = `DWFHARD${process.pid}${signal}`;
      const hold = (name: string) => `${name}:\n\t@bash -c '(exec -a ${marker}-gc sleep 30) & exec -a ${marker}-${name} sleep 30'\n`;
      const dir = fixture({
        Makefile: ["fmt-check", "lint-static", "build-debug"].map(hold).join(""),
        "devflow.toml": `[project]\nstack = ["custom"]\n[targets]\npr = ["fmt:check", "lint:static", "build:debug"]\n`,
      });
      const proc = Bun.spawn([dwfBinary(), "verify", "--jobs", "3"], {
        cwd: dir,
        env: cleanEnv({ DWF_PROFILE: "host" }),
        stdout: "ignore",
        stderr: "ignore",
      });
      try {
        // Wait until the task processes exist, so the signal lands mid-run.
        for (let i = 0; i < 100 && pids(marker).length < 6; i++) await Bun.sleep(50);
        expect(pids(marker).length).toBe(6);
        proc.kill(signal);
        expect(await proc.exited).toBe(code);
        await Bun.sleep(100);
        expect(pids(marker)).toEqual([]);
        const tasks = join(dir, ".cache/devflow/tasks");
        const entries = existsSync(tasks) ? readdirSync(tasks).filter((d) => /^[0-9a-f]{2}$/.test(d)) : [];
        expect(entries).toEqual([]);
      } finally {
        proc.kill("SIGKILL");
        killAll(marker);
      }
    });
  }
});

/** An external extension whose action is whatever JSON the test gives it. */
function extProject(action: object, describe?: object): string {
  const script = `#!/usr/bin/env python3
import json, sys
ACTION = json.loads(${JSON.stringify(JSON.stringify(action))})
DESCRIBE = ${describe ? `json.loads(${JSON.stringify(JSON.stringify(describe))})` : "None"}
if sys.argv[1] == "--discover":
    print(json.dumps(["test:unit"]))
elif sys.argv[1] == "--describe" and DESCRIBE is not None:
    print(json.dumps(DESCRIBE))
elif sys.argv[1] == "--build-action":
    json.load(sys.stdin)
    print(json.dumps(ACTION))
else:
    sys.exit(1)
`;
  return fixture({
    "devflow.toml": `[targets]\npr = ["test:unit"]\n\n[extensions.evil]\nsource = "path"\npath = "devflow-ext-evil"\nrequired = true\n`,
    "devflow-ext-evil": script,
  });
}

describe("hostile extension actions", () => {
  test("spaces, quotes, newlines, $(…) and backticks reach the program as exact argv, never a shell", async () => {
    const hostile = [
      "a b",
      `"dq"`,
      "'sq'",
      "line1\nline2",
      "$(touch pwned-subst)",
      "`touch pwned-tick`",
      "; touch pwned-semi",
      "*",
      "$HOME",
      "\\n",
      "--flag=x y",
    ];
    const dir = extProject({ program: "python3", args: ["-c", "import json,sys; print('ARGV=' + json.dumps(sys.argv[1:]))", ...hostile] });
    const r = await runDwf(["verify", "--verbose", "--jobs", "1"], { cwd: dir });
    expect(r.code).toBe(0);
    const line = r.all.split("\n").find((l) => l.includes("ARGV="))!;
    expect(JSON.parse(line.slice(line.indexOf("ARGV=") + 5))).toEqual(hostile);
    for (const f of ["pwned-subst", "pwned-tick", "pwned-semi"]) expect(existsSync(join(dir, f))).toBe(false);
  });

  test.each([
    [{ program: "true", args: [], env: { "BAD NAME": "x" } }, /not a valid variable name/],
    [{ program: "true", args: ["a\u0000b"] }, /NUL byte/],
    [{ program: "true", args: [], cwd: "../.." }, /inside the project/],
  ])("refuses %j with exit 2 and a message naming the extension", async (action, message) => {
    const r = await runDwf(["verify"], { cwd: extProject(action) });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(message);
    expect(r.stderr).toContain("evil");
    expect(messageProblem(r.stderr)).toBeNull();
  });

  test("a cache mount escaping the cache root is refused before anything runs", async () => {
    const dir = extProject(
      { program: "touch", args: ["ran"] },
      { api_version: 1, cache_mounts: [{ path: "../../../etc", container: "/c", env: "X_CACHE" }] },
    );
    const r = await runDwf(["verify"], { cwd: dir });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("escapes the cache root");
    expect(existsSync(join(dir, "ran"))).toBe(false);
  });
});

describe("secrets", () => {
  const SECRETS = {
    API_TOKEN: "proc-token-Q1W2E3",
    MY_SECRET: "proc-secret-R4T5Y6",
    DB_PASSWORD: "proc-pw-U7I8O9",
    SSH_KEY: "proc-key-P0A1S2",
    GITHUB_TOKEN: "ghp_procGITHUBtok3n",
  };
  const ACTION_SECRET = "action-token-Z9X8C7";

  test("never appear in debug logs, --json, --dry-run, task output or error messages", async () => {
    // The action gets a secret in its own env and a process secret in its argv, and echoes all.
    const dir = extProject({
      program: "sh",
      args: [
        "-c",
        'echo "out $DEPLOY_TOKEN $API_TOKEN $MY_SECRET $DB_PASSWORD $SSH_KEY $GITHUB_TOKEN"; exit 1',
        `--token=${SECRETS.API_TOKEN}`,
      ],
      env: { DEPLOY_TOKEN: ACTION_SECRET, PLAIN: "visible" },
    });
    const env = { ...SECRETS, DWF_LOG: "debug" };
    const runs = await Promise.all(
      [
        ["verify", "--dry-run"],
        ["verify", "--dry-run", "--json"],
        ["verify", "--json"],
        ["verify", "--verbose", "--jobs", "1"],
        ["verify"],
        ["verify", "--profile", "nonsense"],
        ["test:nosuch"],
      ].map((args) => runDwf(args, { cwd: dir, env })),
    );
    const all = runs.map((r) => r.all).join("\n");
    // The scan can only fail if the secrets were actually in play: the task ran and echoed.
    expect(all).toContain("out ***");
    expect(all).toContain("visible");
    for (const value of [...Object.values(SECRETS), ACTION_SECRET]) expect(all).not.toContain(value);
  });
});

describe("filesystem safety", () => {
  // Not fixture(): the directory keeps its own dwf-outside- name, which a test checks.
  const outsideDirs: string[] = [];
  afterAll(() => {
    for (const dir of outsideDirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  });
  function outside(): { dir: string; snapshot: () => string[] } {
    const dir = mkdtempSync(join(tmpdir(), "dwf-outside-"));
    outsideDirs.push(dir);
    writeFileSync(join(dir, "keep.txt"), "user data\n");
    const snapshot = () => readdirSync(dir, { recursive: true }).map(String).sort();
    return { dir, snapshot };
  }
  const project = () =>
    fixture({
      Makefile: "test-unit:\n\t@true\n",
      "devflow.toml": `[project]\nstack = ["custom"]\n[targets]\npr = ["test:unit"]\n[container]\nimage = "localhost/dwf-fs"\n`,
    });

  test("ci generate does not write through a .github symlink that leads out of the project", async () => {
    const out = outside();
    const dir = project();
    symlinkSync(out.dir, join(dir, ".github"));
    const before = out.snapshot();
    const r = await runDwf(["ci", "generate", "--dwf-sha256", "0".repeat(64)], { cwd: dir });
    expect(r.stderr).toContain(".github");
    expect(r.code).not.toBe(0);
    expect(r.code).not.toBe(1);
    expect(out.snapshot()).toEqual(before);
  });

  test("ci generate --output outside the project is refused", async () => {
    const out = outside();
    const dir = project();
    const r = await runDwf(["ci", "generate", "--dwf-sha256", "0".repeat(64), "--output", join(out.dir, "wf.yml")], { cwd: dir });
    expect(r.code).toBe(2);
    expect(existsSync(join(out.dir, "wf.yml"))).toBe(false);
  });

  test("init does not replace or write through a symlinked file pointing outside", async () => {
    const out = outside();
    const dir = fixture({ Makefile: "test-unit:\n\t@true\n" });
    symlinkSync(join(out.dir, "keep.txt"), join(dir, "Dockerfile.devflow"));
    for (const args of [["init"], ["init", "--force"]]) {
      // No release to read the dwf checksum from: init writes everything but the workflow.
      await runDwf(args, { cwd: dir, env: { DWF_DOWNLOAD_BASE: "http://127.0.0.1:9" } });
      expect(readFileSync(join(out.dir, "keep.txt"), "utf8")).toBe("user data\n");
    }
    expect(out.snapshot()).toEqual(["keep.txt"]);
  });

  test("cache prune --all deletes inside the cache root only, never through a symlink", async () => {
    const out = outside();
    const dir = project();
    const cache = join(dir, ".cache/devflow");
    // A cache root dwf made itself (tagged by a run), with symlinks planted in it.
    expect((await runDwf(["test:unit"], { cwd: dir })).code).toBe(0);
    mkdirSync(join(cache, "custom/sub"), { recursive: true });
    writeFileSync(join(cache, "custom/sub/f"), "x");
    symlinkSync(out.dir, join(cache, "custom/sub/link"));
    const r = await runDwf(["cache", "prune", "--all"], { cwd: dir, env: { DWF_CACHE_ROOT: cache } });
    expect(r.code).toBe(0);
    expect(existsSync(join(cache, "custom"))).toBe(false);
    expect(out.snapshot()).toEqual(["keep.txt"]);
    // A cache folder swapped for a symlink at the top: refused, never followed.
    symlinkSync(out.dir, join(cache, "evil"));
    const r1 = await runDwf(["cache", "prune", "--all"], { cwd: dir, env: { DWF_CACHE_ROOT: cache } });
    expect(r1.code).toBe(2);
    expect(r1.stderr).toContain("is a symlink");
    expect(out.snapshot()).toEqual(["keep.txt"]);
    // A cache root that is not dwf's (no tag, e.g. a mistyped DWF_CACHE_ROOT=$HOME) is left alone.
    const r2 = await runDwf(["cache", "prune", "--all"], { cwd: dir, env: { DWF_CACHE_ROOT: out.dir } });
    expect(r2.code).toBe(2);
    expect(out.snapshot()).toEqual(["keep.txt"]);
    expect(lstatSync(join(out.dir, "keep.txt")).isFile()).toBe(true);
    expect(basename(out.dir)).toMatch(/^dwf-outside-/);
  });
});
