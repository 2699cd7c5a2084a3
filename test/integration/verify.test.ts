// `dwf verify` and `dwf <primary>:<selector>` through the compiled binary, on fixture
// repositories with real processes.
import { describe, expect, test } from "bun:test";
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fixture, runDwf, dwfBinary, cleanEnv } from "../support/dwf.ts";

const MAKEFILE = (extra = "") =>
  `fmt-check:\n\t@echo fmt ok\nlint-static:\n\t@echo lint ok\nbuild-debug:\n\t@echo built > build.out\ntest-unit:\n\t@test -f build.out && echo unit ok\n${extra}`;

describe("a Make project", () => {
  test("dwf verify runs the pr profile, prints a summary and exits 0", async () => {
    const dir = fixture({
      Makefile: MAKEFILE(),
      "devflow.toml": `[project]\nname = "mk"\nstack = ["custom"]\n[targets]\npr = ["fmt:check", "lint:static", "build:debug", "test:unit"]\n`,
    });
    const r = await runDwf(["verify"], { cwd: dir });
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/fmt:check\s+custom\s+passed/);
    expect(r.stdout).toMatch(/test:unit\s+custom\s+passed/);
    expect(r.stdout).toContain("4 tasks: 4 passed");
    // build ran before test (test-unit checks build.out exists)
    expect(existsSync(join(dir, "build.out"))).toBe(true);
  });

  test("a failing task exits 1, shows its output block, and the others still run", async () => {
    const dir = fixture({
      Makefile: MAKEFILE().replace("@echo lint ok", "@echo 'lint: bad thing at x.c:3' && exit 3"),
      "devflow.toml": `[targets]\npr = ["fmt:check", "lint:static", "test:unit", "build:debug"]\n`,
    });
    const r = await runDwf(["verify"], { cwd: dir });
    expect(r.code).toBe(1);
    expect(r.stdout).toContain("lint: bad thing at x.c:3");
    expect(r.stdout).toMatch(/lint:static\s+custom\s+failed/);
    expect(r.stdout).toMatch(/test:unit\s+custom\s+passed/);
  });

  test("--fail-fast cancels what has not finished", async () => {
    const dir = fixture({
      Makefile: `lint-static:\n\t@exit 1\ntest-unit:\n\t@sleep 20\n`,
      "devflow.toml": `[targets]\npr = ["lint:static", "test:unit"]\n`,
    });
    const r = await runDwf(["verify", "--fail-fast", "--jobs", "2"], { cwd: dir });
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/test:unit\s+custom\s+cancelled/);
    expect(r.ms).toBeLessThan(15_000);
  });

  test("--dry-run prints tasks, stacks, exact commands and order, and runs nothing", async () => {
    const dir = fixture({ Makefile: MAKEFILE(), "devflow.toml": `[targets]\npr = ["test:unit", "build:debug"]\n` });
    const r = await runDwf(["verify", "--dry-run"], { cwd: dir });
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(
      /1\. build:debug \[custom\]\n\s+\$ make -f Makefile build-debug|1\. build:debug \[custom\]\n\s+\$ make build-debug/,
    );
    expect(r.stdout).toMatch(/2\. test:unit \[custom\][\s\S]*after: build:debug@custom/);
    expect(existsSync(join(dir, "build.out"))).toBe(false);
  });

  test("--json gives a machine-readable result on stdout only", async () => {
    const dir = fixture({ Makefile: MAKEFILE(), "devflow.toml": `[targets]\npr = ["fmt:check", "lint:static"]\n` });
    const r = await runDwf(["verify", "--json"], { cwd: dir });
    expect(r.code).toBe(0);
    const doc = JSON.parse(r.stdout);
    expect(doc.ok).toBe(true);
    expect(doc.command).toBe("check:pr");
    expect(doc.tasks.map((t: { id: string; status: string }) => `${t.id}=${t.status}`)).toEqual([
      "fmt:check@custom=passed",
      "lint:static@custom=passed",
    ]);
  });

  test("`dwf test unit` and `dwf test:unit` are the same command; a missing target is skipped", async () => {
    const dir = fixture({ Makefile: `test-unit:\n\t@echo unit ran\n` });
    const a = await runDwf(["test", "unit"], { cwd: dir });
    const b = await runDwf(["test:unit"], { cwd: dir });
    expect(a.code).toBe(0);
    expect(a.stdout).toContain("unit ran");
    // The same command: the second spelling reuses the first one's cached result.
    expect(b.stdout).toMatch(/cached test:unit \[custom\]/);
    const c = await runDwf(["lint"], { cwd: dir });
    expect(c.code).toBe(0);
    expect(c.stdout).toMatch(/skipped lint:static \[custom\] — no target 'lint-static' or 'lint'/);
  });

  test("DWF_LOG=debug (and the old RUST_LOG=devflow=debug) print every command line, secrets masked", async () => {
    const dir = fixture({ Makefile: `test-unit:\n\t@echo ok\n` });
    for (const env of [{ DWF_LOG: "debug" }, { RUST_LOG: "devflow=debug" }]) {
      const r = await runDwf(["test:unit", "--no-cache"], { cwd: dir, env: { ...env, API_TOKEN: "s3cr3t-value-123" } });
      expect(r.code).toBe(0);
      expect(r.stderr).toMatch(/\[test:unit@custom\] make .*test-unit/);
      expect(r.all).not.toContain("s3cr3t-value-123");
    }
  });
});

describe("projects without devflow.toml", () => {
  test("stacks are detected, the default pr profile runs, and dwf says so", async () => {
    const dir = fixture({ Makefile: MAKEFILE() }, { git: true });
    const r = await runDwf(["verify"], { cwd: dir });
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/No devflow\.toml found: detected custom, using the default 'pr' profile\. Run 'dwf init'/);
    expect(r.stdout).toContain("4 tasks: 4 passed");
  });

  test("nothing to detect is a clear error with exit 2", async () => {
    const dir = fixture({ "README.md": "hi" }, { git: true });
    const r = await runDwf(["verify"], { cwd: dir });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/no devflow\.toml found .* and no known stack detected/);
    expect(r.stderr).toContain("dwf init");
  });

  test("the nearest devflow.toml upwards is used from a subdirectory", async () => {
    const dir = fixture({ Makefile: MAKEFILE(), "devflow.toml": `[targets]\npr = ["fmt:check"]\n`, "sub/deeper/x.txt": "" });
    const r = await runDwf(["verify"], { cwd: join(dir, "sub/deeper") });
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("1 task: 1 passed");
  });
});

describe("broken configs exit 2 with one clear message and no stack trace", () => {
  const cases: [string, string, RegExp][] = [
    ["syntax", `[project\nname = "x"`, /devflow\.toml:1:\d+: invalid TOML/],
    ["unknown key", `[project]\nnme = "x"`, /unknown key 'project\.nme'\. Did you mean 'name'\?/],
    ["wrong type", `[targets]\npr = "fmt"`, /targets\.pr: expected an array, found string "fmt"/],
    ["unknown stack", `[project]\nstack = ["rsut"]`, /project\.stack\[0\]: unknown stack 'rsut'\. Did you mean 'rust'\?/],
    ["malformed selector", `[targets]\npr = ["test:Unit"]`, /targets\.pr\[0\]: malformed selector/],
    [
      "unknown selector",
      `[targets]\npr = ["test:unti"]`,
      /targets\.pr\[0\]: unknown selector 'unti' for 'test'\. Did you mean 'test:unit'\?/,
    ],
    [
      "nobody can run it",
      `[project]\nstack = ["python"]\n[targets]\npr = ["build:debug"]`,
      /targets\.pr\[0\]: no enabled extension can run 'build:debug' \(stacks: python\)/,
    ],
  ];
  for (const [name, toml, message] of cases) {
    test(name, async () => {
      const dir = fixture({ "devflow.toml": toml, Makefile: MAKEFILE(), "pyproject.toml": '[project]\nname = "x"\n' });
      const r = await runDwf(["verify"], { cwd: dir });
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(message);
      expect(r.stderr).toContain(join(dir, "devflow.toml"));
      expect(r.all).not.toMatch(/\n\s+at .*\(|\.ts:\d+:\d+/);
    });
  }

  test("unknown commands and flags suggest the closest valid one", async () => {
    const dir = fixture({ Makefile: MAKEFILE() });
    const a = await runDwf(["verfy"], { cwd: dir });
    expect(a.code).toBe(2);
    expect(a.stderr).toContain("unknown command 'verfy'. Did you mean 'verify'?");
    const b = await runDwf(["verify", "--jbos", "2"], { cwd: dir });
    expect(b.code).toBe(2);
    expect(b.stderr).toContain("unknown option '--jbos' for 'dwf verify'. Did you mean '--jobs'?");
  });
});

describe("node projects", () => {
  const pkg = JSON.stringify({
    name: "fx",
    version: "1.0.0",
    scripts: {
      lint: "node -e \"console.log('lint ok')\"",
      build: "node -e \"require('fs').writeFileSync('built','1')\"",
      test: "node -e \"process.exit(require('fs').existsSync('built')?0:7)\"",
    },
  });
  test("npm: scripts run through npm, a missing fmt script is skipped", async () => {
    const dir = fixture({
      "package.json": pkg,
      "package-lock.json": JSON.stringify({
        name: "fx",
        lockfileVersion: 3,
        requires: true,
        packages: { "": { name: "fx", version: "1.0.0" } },
      }),
    });
    const r = await runDwf(["verify"], { cwd: dir, env: { npm_config_update_notifier: "false" } });
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/fmt:check\s+node\s+skipped/);
    expect(r.stdout).toMatch(/test:unit\s+node\s+passed/);
  });
});

describe("rust", () => {
  test("a crate with no dependencies: fmt check, clippy, build and unit tests pass", async () => {
    const dir = fixture({
      "Cargo.toml": `[package]\nname = "fx"\nversion = "0.1.0"\nedition = "2021"\n`,
      "src/lib.rs": `pub fn add(a: i32, b: i32) -> i32 {\n    a + b\n}\n\n#[cfg(test)]\nmod tests {\n    #[test]\n    fn adds() {\n        assert_eq!(super::add(1, 2), 3);\n    }\n}\n`,
    });
    const r = await runDwf(["verify", "--jobs", "1"], { cwd: dir, env: { CARGO_TARGET_DIR: join(dir, "target") }, timeoutMs: 240_000 });
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/test:unit\s+rust\s+passed/);
    expect(r.stdout).toContain("1 passed");
  }, 240_000);
});

describe("multi-stack", () => {
  test("a command runs on every applicable stack", async () => {
    const dir = fixture({
      Makefile: MAKEFILE(),
      "package.json": JSON.stringify({ name: "m", scripts: { lint: "node -e 0" } }),
      "package-lock.json": "{}",
      "devflow.toml": `[project]\nstack = ["custom", "node"]\n[targets]\npr = ["lint:static"]\n`,
    });
    const r = await runDwf(["verify", "--json"], { cwd: dir });
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout).tasks.map((t: { id: string }) => t.id)).toEqual(["lint:static@custom", "lint:static@node"]);
  });
});

describe("interrupts", () => {
  for (const [signal, code] of [
    ["SIGINT", 130],
    ["SIGTERM", 143],
  ] as const) {
    test(`${signal} stops every child process tree and exits ${code}`, async () => {
      const marker = `dwf-int-${Math.random().toString(36).slice(2)}`;
      const dir = fixture({
        Makefile: `test-unit:\n\t@sh -c 'sleep 300; echo ${marker}' & sleep 300 # ${marker}\nlint-static:\n\t@sleep 300 # ${marker}\n`,
        "devflow.toml": `[targets]\npr = ["test:unit", "lint:static"]\n`,
      });
      const proc = Bun.spawn([dwfBinary(), "verify"], { cwd: dir, env: cleanEnv(), stdout: "pipe", stderr: "pipe" });
      // Wait until both tasks' processes exist.
      for (let i = 0; i < 100 && countProcs(marker) < 2; i++) await Bun.sleep(50);
      expect(countProcs(marker)).toBeGreaterThanOrEqual(2);
      proc.kill(signal);
      const exit = await proc.exited;
      const out = await new Response(proc.stdout).text();
      expect(exit).toBe(code);
      expect(out).toMatch(/cancelled/);
      await Bun.sleep(100);
      expect(countProcs(marker)).toBe(0);
    });
  }
});

function countProcs(marker: string): number {
  const r = Bun.spawnSync(["pgrep", "-f", marker]);
  return r.stdout.toString().trim().split("\n").filter(Boolean).length;
}

test("a declared stack that is also disabled is a configuration error", async () => {
  const dir = fixture({ Makefile: MAKEFILE(), "devflow.toml": `[project]\nstack = ["custom"]\n[extensions.custom]\nenabled = false\n` });
  const r = await runDwf(["verify"], { cwd: dir });
  expect(r.code).toBe(2);
  expect(r.stderr).toContain("project.stack[0] lists 'custom', but extensions.custom.enabled = false.");
});

describe("awkward tasks and project layouts", () => {
  test("live output without a trailing newline does not swallow the status line", async () => {
    const dir = fixture({ Makefile: `test-unit:\n\t@printf 'no newline'\n` });
    const r = await runDwf(["test:unit"], { cwd: dir });
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("no newline\n");
    expect(r.stdout).toMatch(/^✔ passed test:unit/m);
  });

  test("a background process holding the task's output open does not hang the run, and is stopped", async () => {
    const dir = fixture({ Makefile: `test-unit:\n\t@(sleep 20 & echo $$! > bg.pid); echo fg done\n` });
    const r = await runDwf(["test:unit"], { cwd: dir, timeoutMs: 10_000 });
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("fg done");
    const pid = Number(readFileSync(join(dir, "bg.pid"), "utf8").trim());
    // A killed orphan may linger as a zombie where init does not reap: that counts as stopped.
    const stat = existsSync(`/proc/${pid}/stat`) ? readFileSync(`/proc/${pid}/stat`, "utf8") : "";
    const alive = stat !== "" && !/^\d+ \(.*\) Z/.test(stat);
    if (alive) process.kill(pid, "SIGKILL");
    expect(alive).toBe(false);
  }, 30_000);

  test("a cache folder that cannot be written warns and runs the tasks uncached", async () => {
    const dir = fixture({ Makefile: `test-unit:\n\t@echo unit ran\n` });
    const r = await runDwf(["test:unit"], { cwd: dir, env: { DWF_CACHE_ROOT: join(dir, "Makefile", "cache") } });
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("unit ran");
    expect(r.stderr).toContain("is not writable");
    expect(r.stderr).not.toContain("internal error");
  });

  test("without devflow.toml, a project in a subfolder of a git repository is found from that folder", async () => {
    const dir = fixture(
      { "README.txt": "monorepo\n", "services/api/Makefile": `test-unit:\n\t@echo "unit in $$(basename $$(pwd))"\n` },
      { git: true },
    );
    const r = await runDwf(["test:unit"], { cwd: join(dir, "services/api") });
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("unit in api");
  });
});

test("an option missing its value names the option, not the next flag as a bad value", async () => {
  const dir = fixture({ Makefile: MAKEFILE() });
  for (const [flag, next] of [
    ["-j", "--dry-run"],
    ["--config", "--json"],
  ]) {
    const r = await runDwf(["verify", flag!, next!], { cwd: dir });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(new RegExp(`option '--(jobs|config)' needs a value, but '${next}' follows it`));
  }
});

test("the cache folder dwf creates in a checkout ignores itself: git status stays clean", async () => {
  const dir = fixture({ Makefile: MAKEFILE() }, { git: true });
  expect((await runDwf(["verify"], { cwd: dir })).code).toBe(0);
  expect(existsSync(join(dir, ".cache/devflow/CACHEDIR.TAG"))).toBe(true);
  const status = Bun.spawnSync(["git", "status", "--porcelain", "--untracked-files=all"], { cwd: dir }).stdout.toString();
  // build.out is the task's own output; nothing of dwf's cache shows up.
  expect(status.split("\n").filter((l) => l.includes(".cache"))).toEqual([]);
  expect(status).toContain("build.out");
  // Pruning everything keeps the markers that make the folder a (self-ignoring) dwf cache.
  expect((await runDwf(["cache", "prune", "--all"], { cwd: dir })).code).toBe(0);
  expect(readFileSync(join(dir, ".cache/devflow/.gitignore"), "utf8")).toContain("*");
  expect(existsSync(join(dir, ".cache/devflow/CACHEDIR.TAG"))).toBe(true);
});

test("a project's .env and bunfig.toml are not read by dwf: tasks see only the caller's environment", async () => {
  const dir = fixture({
    Makefile: `test-unit:\n\t@echo "from-dotenv=[$$DWF_FIXTURE_DOTENV]"\n`,
    ".env": "DWF_FIXTURE_DOTENV=leaked\n",
    ".env.local": "DWF_FIXTURE_DOTENV=leaked-local\n",
    // A bunfig that would break any Bun program that read it.
    "bunfig.toml": `preload = ["./missing-preload.ts"]\n`,
  });
  const r = await runDwf(["test:unit", "--verbose"], { cwd: dir });
  expect(r.code).toBe(0);
  expect(r.stdout).toContain("from-dotenv=[]");
  expect(r.all).not.toContain("leaked");
});

describe("a devflow.toml that passed validation is remembered by its text", () => {
  test("edits are always seen: a broken edit fails at once, a valid one takes effect; a damaged memo is ignored", async () => {
    const dir = fixture({ Makefile: MAKEFILE(), "devflow.toml": `[targets]\npr = ["fmt:check"]\n` }, { git: true });
    expect((await runDwf(["verify"], { cwd: dir })).stdout).toContain("1 task: 1 passed");
    // The first run creates the cache folder; the next one remembers the config there.
    expect((await runDwf(["verify"], { cwd: dir })).stdout).toContain("1 task: 1 cached");
    const statDir = join(dir, ".cache/devflow/tasks/stat");
    const memo = readdirSync(statDir).find((f) => f.endsWith("-config.json"));
    expect(memo).toBeDefined();

    writeFileSync(join(dir, "devflow.toml"), `[targets]\npr = ["fmt:check"]\n[runtime]\nprofil = "host"\n`);
    const broken = await runDwf(["verify"], { cwd: dir });
    expect(broken.code).toBe(2);
    expect(broken.stderr).toContain("unknown key 'runtime.profil'");

    writeFileSync(join(dir, "devflow.toml"), `[targets]\npr = ["fmt:check", "lint:static"]\n`);
    expect((await runDwf(["verify"], { cwd: dir })).stdout).toContain("2 tasks: 2 passed");

    writeFileSync(join(statDir, memo!), "{ not json");
    const again = await runDwf(["verify"], { cwd: dir });
    expect(again.code).toBe(0);
    expect(again.stdout).toContain("2 tasks: 2 cached");
  });

  test("a project that keeps its cache elsewhere gets no memo in the default folder", async () => {
    const dir = fixture({ Makefile: MAKEFILE(), "devflow.toml": `[cache]\nroot = "build-cache"\n[targets]\npr = ["fmt:check"]\n` });
    expect((await runDwf(["verify"], { cwd: dir })).code).toBe(0);
    expect((await runDwf(["verify"], { cwd: dir })).stdout).toContain("1 task: 1 cached");
    expect(existsSync(join(dir, ".cache"))).toBe(false);
    expect(existsSync(join(dir, "build-cache/CACHEDIR.TAG"))).toBe(true);
  });
});
