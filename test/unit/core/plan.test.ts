import { describe, expect, test } from "bun:test";
import { buildPlan, expandCommands, executionOrder, type Task } from "../../../src/core/plan.ts";
import { parseCommandRef } from "../../../src/sdk/command-ref.ts";
import { schedule } from "../../../src/core/scheduler.ts";

const refs = (...r: string[]) => r.map((x) => parseCommandRef(x));
const where = () => "test";
const stacks = [
  { name: "node", capabilities: ["fmt", "lint", "build", "test", "setup"] },
  { name: "rust", capabilities: ["fmt:check", "fmt:fix", "lint:static", "build:debug", "test:unit"] },
];

describe("planning", () => {
  test("tasks = commands × applicable stacks", () => {
    const plan = buildPlan(refs("fmt:check", "test:integration"), stacks, where);
    expect(plan.tasks.map((t) => t.id)).toEqual(["fmt:check@node", "fmt:check@rust", "test:integration@node"]);
  });

  test("build runs before test of the same stack, not of other stacks", () => {
    const plan = buildPlan(refs("test:unit", "build:debug"), stacks, where);
    const test = plan.tasks.find((t) => t.id === "test:unit@rust")!;
    expect(test.deps).toEqual(["build:debug@rust"]);
  });

  test("setup runs before everything else of its stack", () => {
    const plan = buildPlan(refs("lint:static", "setup:deps"), stacks, where);
    expect(plan.tasks.find((t) => t.id === "lint:static@node")!.deps).toEqual(["setup:deps@node"]);
  });

  test("a fix task is ordered against every other task of its stack", () => {
    const plan = buildPlan(refs("fmt:fix", "lint:static", "test:unit"), stacks, where);
    const byId = new Map(plan.tasks.map((t) => [t.id, t]));
    expect(byId.get("lint:static@rust")!.deps).toContain("fmt:fix@rust");
    expect(byId.get("test:unit@rust")!.deps).toContain("fmt:fix@rust");
    expect(executionOrder(plan)[0]!.ref.selector).toBe("fix");
  });

  test("a command no stack can run is a user error naming where it came from", () => {
    expect(() => buildPlan(refs("package:artifact"), [stacks[1]!], () => "devflow.toml: targets.pr[3]")).toThrow(
      /targets\.pr\[3\]: no enabled extension can run 'package:artifact'/,
    );
  });

  test("check:<profile> expands recursively and detects cycles", () => {
    const targets = { pr: ["fmt:check", "test:unit"], main: ["check:pr", "test:integration"], a: ["check:b"], b: ["check:a"] };
    expect(expandCommands(refs("check:main"), targets, "f").map((r) => `${r.primary}:${r.selector}`)).toEqual([
      "fmt:check",
      "test:unit",
      "test:integration",
    ]);
    expect(() => expandCommands(refs("check:a"), targets, "f")).toThrow(/cycle \(a -> b -> a\)/);
    expect(() => expandCommands(refs("check:mian"), targets, "f")).toThrow(/Did you mean 'main'/);
  });
});

describe("scheduler", () => {
  const task = (id: string, deps: string[] = [], stack = "s", exclusive = false): Task => ({
    id,
    ref: parseCommandRef("test:unit"),
    stack,
    deps,
    exclusive,
  });
  const ok = (ms: number, code = 0) => ({ exitCode: code, output: "", durationMs: ms });

  test("never runs more than --jobs at once and runs everything", async () => {
    let running = 0;
    let peak = 0;
    const tasks = Array.from({ length: 8 }, (_, i) => task(`t${i}`, [], `s${i}`));
    const results = await schedule(
      tasks,
      async () => {
        peak = Math.max(peak, ++running);
        await Bun.sleep(5);
        running--;
        return ok(5);
      },
      { jobs: 3, failFast: false, signal: new AbortController().signal },
    );
    expect(peak).toBe(3);
    expect(results.every((r) => r.status === "passed")).toBe(true);
  });

  test("dependents of a failed task are skipped as blocked; others still run", async () => {
    const results = await schedule(
      [task("build"), task("test", ["build"]), task("lint", [], "other")],
      async (t) => ok(1, t.id === "build" ? 1 : 0),
      { jobs: 2, failFast: false, signal: new AbortController().signal },
    );
    expect(results.map((r) => [r.task.id, r.status])).toEqual([
      ["build", "failed"],
      ["test", "skipped"],
      ["lint", "passed"],
    ]);
    expect(results[1]!.reason).toMatch(/blocked: build failed/);
  });

  test("--fail-fast cancels the rest and aborts running tasks", async () => {
    const results = await schedule(
      [task("a", [], "x"), task("slow", [], "y"), task("later", ["a"], "x")],
      async (t, signal) => {
        if (t.id === "a") return ok(1, 1);
        await new Promise((r) => signal.addEventListener("abort", r));
        return ok(1, 143);
      },
      { jobs: 2, failFast: true, signal: new AbortController().signal },
    );
    expect(results.map((r) => r.status)).toEqual(["failed", "cancelled", "cancelled"]);
    expect(results[2]!.reason).toBe("cancelled by --fail-fast");
  });

  test("known outcomes (cache hits) finish after their dependencies, without a start or a job slot", async () => {
    const started: string[] = [];
    const finished: string[] = [];
    const hit = { exitCode: 0, output: "old", durationMs: 7, status: "cached" as const };
    const results = await schedule(
      [task("build"), task("test", ["build"]), task("lint", [], "other"), task("e2e", ["bad"], "e"), task("bad", [], "b")],
      async (t) => {
        expect(started.length).toBeLessThanOrEqual(1);
        return ok(1, t.id === "bad" ? 1 : 0);
      },
      {
        jobs: 1,
        failFast: false,
        signal: new AbortController().signal,
        known: new Map([
          ["test", hit],
          ["lint", hit],
          ["e2e", hit],
        ]),
        events: { start: (t) => void started.push(t.id), finish: (r) => void finished.push(r.task.id) },
      },
    );
    expect(results.map((r) => [r.task.id, r.status])).toEqual([
      ["build", "passed"],
      ["test", "cached"],
      ["lint", "cached"],
      ["e2e", "skipped"],
      ["bad", "failed"],
    ]);
    expect(started).toEqual(["build", "bad"]);
    // lint needs nothing: it is done before build finishes; test waits for build.
    expect(finished.indexOf("lint")).toBeLessThan(finished.indexOf("build"));
    expect(finished.indexOf("test")).toBeGreaterThan(finished.indexOf("build"));
    expect(results[1]!.durationMs).toBe(7);
  });

  test("an exclusive task never overlaps another task of its stack", async () => {
    const log: string[] = [];
    await schedule(
      [task("fix", [], "s", true), task("other", [], "s"), task("elsewhere", [], "t")],
      async (t) => {
        log.push(`start ${t.id}`);
        await Bun.sleep(5);
        log.push(`end ${t.id}`);
        return ok(5);
      },
      { jobs: 4, failFast: false, signal: new AbortController().signal },
    );
    const s = log.indexOf("start other");
    const e = log.indexOf("end fix");
    expect(s).toBeGreaterThan(e);
  });
});
