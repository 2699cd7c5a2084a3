// The verify flow (runTasks: load, plan, run, report) on a real temp project with the real
// planner, scheduler, task cache and reporters, and a fake runner in place of processes: what
// ran, in which order, what the report and the exit code say.
//
// Everything the flow needs from outside comes through `flow()` below: the runner (by replacing
// the runtime selection), the services the CLI wires in (the real task cache, the builtin stacks)
// and the output (out.ts).
import { afterAll, afterEach, beforeAll, describe, expect, spyOn, test } from "bun:test";
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { runTasks, type RunTasksOptions } from "../../../src/cli/verify-flow.ts";
import { extensionSource } from "../../../src/cli/wiring.ts";
import { taskCacheFactory } from "../../../src/cache/task-cache.ts";
import { parseCommandRef } from "../../../src/sdk/command-ref.ts";
import * as select from "../../../src/runtime/select.ts";
import * as out from "../../../src/lib/out.ts";
import type { RunOutcome, RunRequest, Runner } from "../../../src/core/runner.ts";

// --- the fake runner ---

type Script = (req: RunRequest) => RunOutcome | Promise<RunOutcome>;

/** Ends with `exitCode` after printing `output` (streamed, as a real runner does when the run streams live). */
const exits =
  (exitCode: number, output: string): Script =>
  (req) => {
    req.onOutput?.(output);
    return { exitCode, output, durationMs: 1 };
  };
const passes = exits(0, "ok\n");
const fails = exits;
/**
 * Runs until the run stops it. A runner reports a process it stopped as error "cancelled", whatever
 * the program's exit code (many exit 0 on SIGTERM).
 */
const untilStopped =
  (exitCode: number): Script =>
  (req) =>
    new Promise((done) => {
      const stop = () => done({ exitCode, output: "stopped\n", durationMs: 1, error: "cancelled" });
      if (req.signal.aborted) stop();
      else req.signal.addEventListener("abort", stop);
    });

interface FakeRunner extends Runner {
  /** Task ids in the order run() was called. */
  calls: string[];
  /** `start <id>` / `end <id>` as they happened. */
  events: string[];
  stopAllCalls: number;
}

/** A runner that runs nothing: each task's outcome comes from its script (default: passes). */
function fakeRunner(scripts: Record<string, Script> = {}): FakeRunner {
  const runner: FakeRunner = {
    kind: "host",
    calls: [],
    events: [],
    stopAllCalls: 0,
    commandLine: (req) => [req.action.program, ...req.action.args],
    async run(req) {
      runner.calls.push(req.id);
      runner.events.push(`start ${req.id}`);
      const outcome = await (scripts[req.id] ?? passes)(req);
      runner.events.push(`end ${req.id}`);
      return outcome;
    },
    async stopAll() {
      runner.stopAllCalls++;
    },
  };
  return runner;
}

// --- the project and the flow ---

const dirs: string[] = [];
const savedEnv = { DWF_CACHE_ROOT: process.env.DWF_CACHE_ROOT, CI: process.env.CI };

beforeAll(() => {
  // Plain lines, not a status bar; the task cache under a temp folder of its own.
  process.env.CI = "true";
});

afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

afterAll(() => {
  for (const [k, v] of Object.entries(savedEnv)) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
});

const MAKEFILE = ["fmt-check:", "lint-static:", "build-debug:", "test-unit:"].map((t) => `${t}\n\ttrue\n`).join("");

const DEVFLOW = `[project]
stack = ["custom"]

[targets]
pr = ["fmt:check", "lint:static", "build:debug", "test:unit"]
# The Makefile has no test-integration target: this profile checks nothing.
idle = ["test:integration"]
`;

/** A git repository with a devflow.toml and a Makefile (the custom stack), and a cache root of its own. */
function makeProject(files: Record<string, string> = {}): string {
  const root = mkdtempSync(join(tmpdir(), "dwf-flow-"));
  dirs.push(root);
  const all = { "devflow.toml": DEVFLOW, Makefile: MAKEFILE, ...files };
  for (const [rel, content] of Object.entries(all)) {
    mkdirSync(dirname(join(root, rel)), { recursive: true });
    writeFileSync(join(root, rel), content);
  }
  const git = Bun.spawnSync(["git", "init", "-q", root]);
  if (git.exitCode !== 0) throw new Error(`git init failed: ${git.stderr.toString()}`);
  return root;
}

interface FlowResult {
  exitCode: number;
  stdout: string;
  stderr: string;
  /** The --json document, when asked for. */
  doc?: {
    ok: boolean;
    reason?: string;
    exitCode: number;
    summary: Record<string, number>;
    tasks: { id: string; status: string; reason: string | null; output: string; cache?: string }[];
  };
}

/** `dwf <commands>` in `root` with `runner` doing the running; flags as RunTasksOptions names them. */
async function flow(root: string, runner: Runner, commands: string[], flags: Partial<RunTasksOptions> = {}): Promise<FlowResult> {
  const stdout: string[] = [];
  const stderr: string[] = [];
  const spies = [
    spyOn(select, "selectRuntime").mockImplementation(async () => ({ kind: runner.kind, runner })),
    spyOn(out, "writeStdout").mockImplementation((text: string) => void stdout.push(text)),
    spyOn(out, "writeStderr").mockImplementation((text: string) => void stderr.push(text)),
  ];
  process.env.DWF_CACHE_ROOT = join(root, ".dwf-test-cache");
  try {
    const exitCode = await runTasks(
      {
        cwd: root,
        commands: commands.map((c) => parseCommandRef(c)),
        title: commands.join(" "),
        jobs: 1,
        failFast: false,
        dryRun: false,
        json: false,
        verbose: false,
        noCache: false,
        ...flags,
      },
      { extensions: extensionSource, openCache: taskCacheFactory() },
    );
    const text = stdout.join("");
    return { exitCode, stdout: text, stderr: stderr.join(""), doc: flags.json && !flags.dryRun ? JSON.parse(text) : undefined };
  } finally {
    for (const s of spies) s.mockRestore();
  }
}

const PR = ["check:pr"];
const statuses = (doc: FlowResult["doc"]) => Object.fromEntries(doc!.tasks.map((t) => [t.id, t.status]));

describe("verify flow with a fake runner", () => {
  test("tasks run in dependency order: the build before its tests, the other checks beside it", async () => {
    const root = makeProject();
    const runner = fakeRunner();
    const r = await flow(root, runner, PR, { jobs: 4, json: true });
    expect(r.exitCode).toBe(0);
    expect(statuses(r.doc)).toEqual({
      "fmt:check@custom": "passed",
      "lint:static@custom": "passed",
      "build:debug@custom": "passed",
      "test:unit@custom": "passed",
    });
    const at = (e: string) => runner.events.indexOf(e);
    expect(at("start test:unit@custom")).toBeGreaterThan(at("end build:debug@custom"));
    // With four jobs the independent checks start before the build has finished.
    expect(at("start fmt:check@custom")).toBeLessThan(at("end build:debug@custom"));
    expect(at("start lint:static@custom")).toBeLessThan(at("end build:debug@custom"));
    expect(runner.calls.sort()).toEqual(["build:debug@custom", "fmt:check@custom", "lint:static@custom", "test:unit@custom"]);
  });

  test("the runner gets the stack's action, run in the project", async () => {
    const root = makeProject();
    const seen: RunRequest[] = [];
    const runner = fakeRunner({ "build:debug@custom": (req) => (seen.push(req), { exitCode: 0, output: "", durationMs: 1 }) });
    expect((await flow(root, runner, ["build:debug"])).exitCode).toBe(0);
    expect(seen.map((r) => ({ action: r.action, cwd: r.cwd }))).toEqual([
      { action: { program: "make", args: ["build-debug"] }, cwd: root },
    ]);
  });

  test("a failing task fails the run with exit 1; what depends on it is skipped as blocked, never run", async () => {
    const root = makeProject();
    const runner = fakeRunner({ "build:debug@custom": fails(2, "src/main.c:3: error: expected ';'\n") });
    const r = await flow(root, runner, PR, { json: true });
    expect(r.exitCode).toBe(1);
    expect(r.doc!.ok).toBe(false);
    expect(statuses(r.doc)).toEqual({
      "fmt:check@custom": "passed",
      "lint:static@custom": "passed",
      "build:debug@custom": "failed",
      "test:unit@custom": "skipped",
    });
    expect(r.doc!.tasks.find((t) => t.id === "test:unit@custom")!.reason).toBe("blocked: build:debug@custom failed");
    expect(runner.calls).not.toContain("test:unit@custom");

    // The terminal report shows the failure's output and the summary says what happened.
    const text = await flow(root, fakeRunner({ "build:debug@custom": fails(2, "src/main.c:3: error: expected ';'\n") }), PR);
    expect(text.exitCode).toBe(1);
    expect(text.stdout).toContain("src/main.c:3: error: expected ';'");
    expect(text.stdout).toMatch(/blocked: build:debug@custom failed/);
  });

  test("--fail-fast cancels the rest, and a task it stops is reported cancelled, not passed, even when it exits 0", async () => {
    const root = makeProject();
    const runner = fakeRunner({
      "fmt:check@custom": fails(1, "Would reformat: main.c\n"),
      // Like a program that exits 0 on SIGTERM: it ends only when the run stops it.
      "lint:static@custom": untilStopped(0),
    });
    const r = await flow(root, runner, PR, { jobs: 2, failFast: true, json: true });
    expect(r.exitCode).toBe(1);
    expect(statuses(r.doc)).toEqual({
      "fmt:check@custom": "failed",
      "lint:static@custom": "cancelled",
      "build:debug@custom": "cancelled",
      "test:unit@custom": "cancelled",
    });
    expect(r.doc!.tasks.find((t) => t.id === "build:debug@custom")!.reason).toBe("cancelled by --fail-fast");
    expect(r.doc!.summary.passed).toBe(0);
    expect(runner.calls.sort()).toEqual(["fmt:check@custom", "lint:static@custom"]);
  });

  test("a passing result is reused: reported cached, the runner not called; a failure is not kept", async () => {
    const root = makeProject();
    const first = fakeRunner({ "test:unit@custom": fails(1, "1 failed\n") });
    expect((await flow(root, first, PR)).exitCode).toBe(1);
    expect(first.calls).toHaveLength(4);

    const second = fakeRunner();
    const r = await flow(root, second, PR, { json: true });
    expect(r.exitCode).toBe(0);
    expect(statuses(r.doc)).toEqual({
      "fmt:check@custom": "cached",
      "lint:static@custom": "cached",
      "build:debug@custom": "cached",
      "test:unit@custom": "passed",
    });
    expect(r.doc!.tasks.filter((t) => t.status === "cached").map((t) => t.cache)).toEqual(["local", "local", "local"]);
    expect(second.calls).toEqual(["test:unit@custom"]);

    const third = fakeRunner();
    const text = await flow(root, third, PR);
    expect(third.calls).toEqual([]);
    expect(text.exitCode).toBe(0);
    expect(text.stdout).toMatch(/cached/);

    // --no-cache runs everything again.
    const fourth = fakeRunner();
    expect((await flow(root, fourth, PR, { noCache: true })).exitCode).toBe(0);
    expect(fourth.calls).toHaveLength(4);
  });

  test("a profile from devflow.toml that runs nothing exits 1 and says why; one command asked by name keeps a skip a skip", async () => {
    const root = makeProject();
    const runner = fakeRunner();
    const r = await flow(root, runner, ["check:idle"], { json: true });
    expect(r.exitCode).toBe(1);
    expect(r.doc!.ok).toBe(false);
    expect(r.doc!.reason).toContain("profile 'idle'");
    expect(r.doc!.reason).toContain("ran nothing");
    expect(r.doc!.reason).toContain("no target 'test-integration' in Makefile");
    expect(runner.calls).toEqual([]);

    const text = await flow(root, fakeRunner(), ["check:idle"]);
    expect(text.exitCode).toBe(1);
    expect(text.stderr).toMatch(/error: .*profile 'idle' in .*devflow\.toml ran nothing/);

    const byName = await flow(root, fakeRunner(), ["test:integration"], { json: true });
    expect(byName.exitCode).toBe(0);
    expect(statuses(byName.doc)).toEqual({ "test:integration@custom": "skipped" });
  });

  test("a secret value in a task's output is masked, streamed live or reported in JSON", async () => {
    const secret = "flow-s3cr3t-4e1b9c";
    process.env.DWF_FLOW_TOKEN = secret;
    try {
      const root = makeProject();
      // Streamed in two chunks that split the secret, then failing so the output is shown.
      const leaky: Script = (req) => {
        req.onOutput?.(`token=${secret.slice(0, 7)}`);
        req.onOutput?.(`${secret.slice(7)} end\n`);
        return { exitCode: 1, output: `token=${secret} end\n`, durationMs: 1 };
      };
      const live = await flow(root, fakeRunner({ "lint:static@custom": leaky }), ["lint:static"]);
      expect(live.exitCode).toBe(1);
      expect(live.stdout + live.stderr).not.toContain(secret);
      expect(live.stdout).toContain("token=*** end");

      const json = await flow(root, fakeRunner({ "lint:static@custom": leaky }), ["lint:static"], { json: true });
      expect(json.stdout + json.stderr).not.toContain(secret);
      expect(json.doc!.tasks[0]!.output).toBe("token=*** end\n");
    } finally {
      delete process.env.DWF_FLOW_TOKEN;
    }
  });

  test("a secret an extension puts in the action's env is masked in the output too", async () => {
    const secret = "vault-s3cr3t-77a0d2";
    const extension = `#!/bin/sh
case "$1" in
  --discover) echo '["lint:static"]' ;;
  --build-action) echo '{"program":"vault-lint","args":[],"env":{"VAULT_TOKEN":"${secret}"}}' ;;
  *) exit 1 ;;
esac
`;
    const root = makeProject({
      "devflow.toml": '[project]\nstack = ["vault"]\n\n[extensions.vault]\nsource = "path"\npath = "tools/devflow-ext-vault"\n',
      "tools/devflow-ext-vault": extension,
    });
    chmodSync(join(root, "tools/devflow-ext-vault"), 0o755);
    const seen: RunRequest[] = [];
    const leaky: Script = (req) => {
      seen.push(req);
      return exits(1, `auth with ${req.env.VAULT_TOKEN} refused\n`)(req);
    };
    for (const json of [false, true]) {
      const r = await flow(root, fakeRunner({ "lint:static@vault": leaky }), ["lint:static"], { json });
      expect(r.exitCode).toBe(1);
      expect(r.stdout + r.stderr).not.toContain(secret);
      expect(r.stdout).toContain("auth with *** refused");
    }
    // The task itself still gets the value.
    expect(seen[0]!.env.VAULT_TOKEN).toBe(secret);
  });

  test("--dry-run prints each task's command line and runs nothing", async () => {
    const root = makeProject();
    const runner = fakeRunner();
    const r = await flow(root, runner, PR, { dryRun: true });
    expect(r.exitCode).toBe(0);
    expect(runner.calls).toEqual([]);
    for (const target of ["fmt-check", "lint-static", "build-debug", "test-unit"]) expect(r.stdout).toContain(`make ${target}`);

    const json = await flow(root, runner, PR, { dryRun: true, json: true });
    const plan = JSON.parse(json.stdout) as { tasks: { id: string; argv: string[]; after: string[] }[] };
    expect(plan.tasks.find((t) => t.id === "test:unit@custom")).toMatchObject({
      argv: ["make", "test-unit"],
      after: ["build:debug@custom"],
    });
    expect(runner.calls).toEqual([]);
  });

  test("Ctrl-C stops the running task, cancels the rest and exits 130", async () => {
    const root = makeProject();
    const runner = fakeRunner({
      "fmt:check@custom": (req) => {
        const stopped = untilStopped(130)(req);
        process.emit("SIGINT", "SIGINT");
        return stopped;
      },
    });
    const r = await flow(root, runner, PR, { json: true });
    expect(r.exitCode).toBe(130);
    expect(statuses(r.doc)).toEqual({
      "fmt:check@custom": "cancelled",
      "lint:static@custom": "cancelled",
      "build:debug@custom": "cancelled",
      "test:unit@custom": "cancelled",
    });
    expect(r.doc!.tasks.find((t) => t.id === "lint:static@custom")!.reason).toBe("interrupted");
    expect(r.stderr).toContain("Interrupted: stopping running tasks");
    expect(runner.calls).toEqual(["fmt:check@custom"]);
    expect(runner.stopAllCalls).toBeGreaterThan(0);
  });
});
