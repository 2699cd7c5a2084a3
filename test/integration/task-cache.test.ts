// Incremental `dwf verify` with the compiled binary: Makefile targets append to a counter file
// outside the tree, so each test counts real executions across runs.
import { describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fixture, runDwf } from "../support/dwf.ts";

function counterFile(): string {
  return join(mkdtempSync(join(tmpdir(), "dwf-count-")), "count");
}

function counts(file: string): Record<string, number> {
  const out: Record<string, number> = {};
  if (!existsSync(file)) return out;
  for (const l of readFileSync(file, "utf8").split("\n").filter(Boolean)) out[l] = (out[l] ?? 0) + 1;
  return out;
}

/** A custom-stack project: lint-static and test-unit count their runs; test-unit fails when FAIL exists. */
function project(counter: string, extra: Record<string, string> = {}): string {
  return fixture(
    {
      Makefile: [
        "lint-static:",
        `\t@echo lint >> ${counter}`,
        "test-unit:",
        `\t@echo unit >> ${counter}; echo unit-output-here; test ! -e FAIL`,
        "",
      ].join("\n"),
      "devflow.toml": '[targets]\npr = ["lint:static", "test:unit"]\n',
      ".gitignore": "build/\n",
      "src/app.txt": "v1\n",
      ...extra,
    },
    { git: true },
  );
}

function statuses(stdout: string): Record<string, string> {
  const r = JSON.parse(stdout) as { tasks: { id?: string; command?: string; status: string }[] };
  return Object.fromEntries(r.tasks.map((t) => [String(t.command ?? t.id), t.status]));
}

describe("task result cache", () => {
  test("second run is cached with the original duration; output replays with --verbose", async () => {
    const counter = counterFile();
    const cwd = project(counter);
    const first = await runDwf(["verify"], { cwd });
    expect(first.code).toBe(0);
    const second = await runDwf(["verify", "--verbose"], { cwd });
    expect(second.code).toBe(0);
    expect(second.stdout).toContain("◆ cached lint:static");
    expect(second.stdout).toContain("2 tasks: 2 cached");
    expect(second.stdout).toContain("unit-output-here");
    expect(counts(counter)).toEqual({ lint: 1, unit: 1 });
    // One job at a time streams what runs; a cached task's stored output still shows, as a block.
    const live = await runDwf(["verify", "--verbose", "--jobs", "1"], { cwd });
    expect(live.stdout).toContain("2 tasks: 2 cached");
    expect(live.stdout).toMatch(/◆ cached test:unit.*\n│ unit-output-here/);
    const quiet = await runDwf(["verify"], { cwd });
    expect(quiet.stdout).not.toContain("unit-output-here");
    // Nothing ran, so nothing is reported as started.
    expect(quiet.stdout).not.toContain("started");
    expect(counts(counter)).toEqual({ lint: 1, unit: 1 });
  });

  test("a changed visible file re-runs the tasks; an ignored file does not", async () => {
    const counter = counterFile();
    const cwd = project(counter);
    await runDwf(["verify"], { cwd });
    mkdirSync(join(cwd, "build"));
    writeFileSync(join(cwd, "build/out.bin"), "artifact");
    await runDwf(["verify"], { cwd });
    expect(counts(counter)).toEqual({ lint: 1, unit: 1 });
    writeFileSync(join(cwd, "src/app.txt"), "v2\n");
    await runDwf(["verify"], { cwd });
    expect(counts(counter)).toEqual({ lint: 2, unit: 2 });
    writeFileSync(join(cwd, "src/new-untracked.txt"), "hello\n");
    await runDwf(["verify"], { cwd });
    expect(counts(counter)).toEqual({ lint: 3, unit: 3 });
  });

  test("a changed inherited env var re-runs host tasks; session noise (OLDPWD, SHLVL, SSH_AUTH_SOCK) does not", async () => {
    const counter = counterFile();
    const cwd = project(counter);
    await runDwf(["verify"], { cwd, env: { FOO: "1", TERM: "xterm", SHLVL: "1", SSH_AUTH_SOCK: "/tmp/a" } });
    await runDwf(["verify"], { cwd, env: { FOO: "1", TERM: "xterm", SHLVL: "4", SSH_AUTH_SOCK: "/tmp/b", OLDPWD: "/elsewhere" } });
    expect(counts(counter)).toEqual({ lint: 1, unit: 1 });
    const changed = await runDwf(["verify", "--json"], { cwd, env: { FOO: "2", TERM: "xterm" } });
    expect(statuses(changed.stdout)).toEqual({ "lint:static": "passed", "test:unit": "passed" });
    expect(counts(counter)).toEqual({ lint: 2, unit: 2 });
    // TERM is not noise: a task can see it (and tools change their output by it), so it is hashed.
    await runDwf(["verify"], { cwd, env: { FOO: "2", TERM: "dumb" } });
    expect(counts(counter)).toEqual({ lint: 3, unit: 3 });
  });

  test("a failing task is never cached; --no-cache and [cache] tasks = false run everything", async () => {
    const counter = counterFile();
    const cwd = project(counter, { FAIL: "" });
    expect((await runDwf(["verify"], { cwd })).code).toBe(1);
    expect((await runDwf(["verify"], { cwd })).code).toBe(1);
    expect(counts(counter)).toEqual({ lint: 1, unit: 2 });
    await runDwf(["verify", "--no-cache"], { cwd });
    expect(counts(counter)).toEqual({ lint: 2, unit: 3 });
    writeFileSync(join(cwd, "devflow.toml"), '[cache]\ntasks = false\n[targets]\npr = ["lint:static", "test:unit"]\n');
    await runDwf(["verify"], { cwd });
    await runDwf(["verify"], { cwd });
    expect(counts(counter)).toEqual({ lint: 4, unit: 5 });
  });

  test("a damaged entry is ignored and rewritten", async () => {
    const counter = counterFile();
    const cwd = project(counter);
    const cacheRoot = join(cwd, ".cache/devflow");
    await runDwf(["verify"], { cwd });
    const entries = readdirSync(join(cacheRoot, "tasks"), { recursive: true })
      .map(String)
      .filter((p) => p.endsWith(".json") && !p.startsWith("stat"));
    expect(entries).toHaveLength(2);
    for (const e of entries) writeFileSync(join(cacheRoot, "tasks", e), '{"version":1,"key":"nope"');
    const r = await runDwf(["verify"], { cwd });
    expect(r.code).toBe(0);
    expect(counts(counter)).toEqual({ lint: 2, unit: 2 });
    for (const e of entries) expect(JSON.parse(readFileSync(join(cacheRoot, "tasks", e), "utf8")).version).toBe(1);
    await runDwf(["verify"], { cwd });
    expect(counts(counter)).toEqual({ lint: 2, unit: 2 });
  });

  test("two concurrent runs on one tree both pass and leave an intact cache", async () => {
    const counter = counterFile();
    const cwd = project(counter);
    const [a, b] = await Promise.all([runDwf(["verify", "--json"], { cwd }), runDwf(["verify", "--json"], { cwd })]);
    expect(a.code).toBe(0);
    expect(b.code).toBe(0);
    const tasksDir = join(cwd, ".cache/devflow/tasks");
    const files = readdirSync(tasksDir, { recursive: true }).map(String);
    expect(files.filter((f) => f.endsWith(".tmp"))).toEqual([]);
    for (const f of files.filter((f) => f.endsWith(".json")))
      expect(() => JSON.parse(readFileSync(join(tasksDir, f), "utf8"))).not.toThrow();
    const before = counts(counter);
    const third = await runDwf(["verify", "--json"], { cwd });
    expect(Object.values(statuses(third.stdout))).toEqual(["cached", "cached"]);
    expect(counts(counter)).toEqual(before);
  });

  // rust's fmt:check looks only at the crate's sources; the custom stack's test:unit sees everything.
  test("a change outside a task's narrowed inputs re-runs only the tasks that see it", async () => {
    const counter = counterFile();
    const cwd = fixture(
      {
        "Cargo.toml": '[package]\nname = "demo"\nversion = "0.1.0"\nedition = "2021"\n',
        "src/main.rs": 'fn main() {\n    println!("hi");\n}\n',
        Makefile: `test-unit:\n\t@echo unit >> ${counter}\n`,
        "README.md": "v1\n",
        ".gitignore": "target/\n",
        "devflow.toml":
          '[project]\nstack = ["rust", "custom"]\n[extensions.rust]\ncapabilities = ["fmt:check"]\n[extensions.custom]\ncapabilities = ["test:unit"]\n[targets]\npr = ["fmt:check", "test:unit"]\n',
      },
      { git: true },
    );
    const first = await runDwf(["verify", "--json"], { cwd });
    expect(first.code).toBe(0);
    writeFileSync(join(cwd, "README.md"), "v2\n");
    const second = await runDwf(["verify", "--json"], { cwd });
    const s = JSON.parse(second.stdout) as { tasks: { status: string; stack?: string }[] };
    expect(s.tasks.map((t) => t.status).sort()).toEqual(["cached", "passed"]);
    expect(counts(counter)).toEqual({ unit: 2 });
    writeFileSync(join(cwd, "src/main.rs"), 'fn main() {\n    println!("bye");\n}\n');
    const third = await runDwf(["verify", "--json"], { cwd });
    expect((JSON.parse(third.stdout) as { tasks: { status: string }[] }).tasks.map((t) => t.status)).toEqual(["passed", "passed"]);
  });
});

/** The value a container gets for NAME from a shown engine call: `-e NAME=v`, or `-e NAME` taken from the `env …` prefix or the host. */
function containerValue(argv: string[], name: string, host: Record<string, string | undefined>): string | undefined {
  for (let i = 0; i < argv.length - 1; i++) {
    if (argv[i] !== "-e") continue;
    if (argv[i + 1] === name)
      return argv.find((a, j) => j < argv.indexOf("run") && a.startsWith(`${name}=`))?.slice(name.length + 1) ?? host[name];
    if (argv[i + 1]!.startsWith(`${name}=`)) return argv[i + 1]!.slice(name.length + 1);
  }
  return undefined;
}

describe("container env does not depend on the host's", () => {
  test("a stack's env and the container's CI are the same with and without CI on the host; host runs still follow the host", async () => {
    const cwd = fixture(
      { "Cargo.toml": '[package]\nname = "x"\nversion = "0.1.0"\nedition = "2021"\n', "src/main.rs": "fn main() {}\n" },
      { git: true },
    );
    const plan = async (profile: string, env: Record<string, string | undefined>) => {
      const r = await runDwf(["build:debug", "--dry-run", "--json", "--profile", profile], { cwd, env });
      expect(r.code).toBe(0);
      const t = JSON.parse(r.stdout).tasks[0];
      return { env: t.env, ci: containerValue(t.argv, "CI", env) };
    };
    const laptop = await plan("container", { CI: undefined });
    // The rust stack turns off incremental builds under CI: a container is always CI.
    expect(laptop.env).toEqual({ CARGO_INCREMENTAL: "0" });
    expect(laptop.ci).toBe("true");
    expect(await plan("container", { CI: "true" })).toEqual(laptop);
    expect(await plan("container", { CI: "false" })).toEqual(laptop);
    expect((await plan("host", { CI: undefined })).env).toEqual({});
    expect((await plan("host", { CI: "true" })).env).toEqual({ CARGO_INCREMENTAL: "0" });
  });
});

describe("declared outputs in the local cache", () => {
  /** build:debug writes out/ (declared under [cache.outputs]) and counts its runs; test:unit reads it. */
  function buildProject(counter: string): string {
    return fixture(
      {
        Makefile: [
          "build-debug:",
          `\t@echo build >> ${counter}; mkdir -p out/bin; cat src/app.txt > out/app.txt; ln -sf ../app.txt out/bin/latest; echo built`,
          "test-unit:",
          "\t@cat out/bin/latest",
          "",
        ].join("\n"),
        "devflow.toml": '[targets]\npr = ["build:debug", "test:unit"]\n[cache.outputs]\n"build:debug" = ["out"]\n',
        ".gitignore": "out/\n",
        "src/app.txt": "v1\n",
      },
      { git: true },
    );
  }
  const rm = (path: string) => Bun.spawnSync(["rm", "-rf", path]);

  test("a local hit whose outputs were deleted or changed puts them back; it never reports cached with them missing", async () => {
    const counter = counterFile();
    const cwd = buildProject(counter);
    expect((await runDwf(["verify"], { cwd })).code).toBe(0);
    expect(counts(counter)).toEqual({ build: 1 });
    const kept = readdirSync(join(cwd, ".cache/devflow/tasks"), { recursive: true })
      .map(String)
      .filter((f) => f.endsWith(".outputs.tgz"));
    expect(kept).toHaveLength(1);

    rm(join(cwd, "out"));
    const r = await runDwf(["verify", "--json"], { cwd });
    expect(r.code).toBe(0);
    expect(statuses(r.stdout)).toEqual({ "build:debug": "cached", "test:unit": "cached" });
    expect(readFileSync(join(cwd, "out/app.txt"), "utf8")).toBe("v1\n");
    expect(readFileSync(join(cwd, "out/bin/latest"), "utf8")).toBe("v1\n");
    expect(counts(counter)).toEqual({ build: 1 });

    // One file gone, or cut short: the same.
    rm(join(cwd, "out/bin"));
    writeFileSync(join(cwd, "out/app.txt"), "");
    expect(statuses((await runDwf(["verify", "--json"], { cwd })).stdout)["build:debug"]).toBe("cached");
    expect(readFileSync(join(cwd, "out/bin/latest"), "utf8")).toBe("v1\n");
    expect(counts(counter)).toEqual({ build: 1 });
  });

  test("without the kept copy (pruned, damaged) a hit with missing outputs is a miss: the task runs again", async () => {
    const counter = counterFile();
    const cwd = buildProject(counter);
    expect((await runDwf(["verify"], { cwd })).code).toBe(0);
    const tasks = join(cwd, ".cache/devflow/tasks");
    const kept = readdirSync(tasks, { recursive: true })
      .map(String)
      .filter((f) => f.endsWith(".outputs.tgz"));
    expect(kept).toHaveLength(1);
    // Outputs in place: a plain hit.
    expect(statuses((await runDwf(["verify", "--json"], { cwd })).stdout)["build:debug"]).toBe("cached");

    writeFileSync(join(tasks, kept[0]!), "not a gzip stream");
    rm(join(cwd, "out"));
    const damaged = await runDwf(["verify", "--json"], { cwd });
    expect(damaged.code).toBe(0);
    expect(statuses(damaged.stdout)).toEqual({ "build:debug": "passed", "test:unit": "cached" });
    expect(readFileSync(join(cwd, "out/app.txt"), "utf8")).toBe("v1\n");
    expect(counts(counter)).toEqual({ build: 2 });

    rm(join(tasks, kept[0]!));
    rm(join(cwd, "out"));
    const pruned = await runDwf(["verify", "--json"], { cwd });
    expect(statuses(pruned.stdout)["build:debug"]).toBe("passed");
    expect(counts(counter)).toEqual({ build: 3 });
    // `dwf cache prune --all` removes kept outputs with their entries.
    expect((await runDwf(["cache", "prune", "--all"], { cwd })).code).toBe(0);
    expect(
      readdirSync(tasks, { recursive: true })
        .map(String)
        .filter((f) => f.endsWith(".outputs.tgz") || /[0-9a-f]{64}\.json$/.test(f)),
    ).toEqual([]);
  });
});
