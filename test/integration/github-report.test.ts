// GitHub reporting through the compiled binary: commit statuses against a local Bun.serve
// standing in for the GitHub API, and step summary / annotations / ::group:: folding.
import { afterAll, beforeAll, beforeEach, describe, expect, test } from "bun:test";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fixture, runDwf } from "../support/dwf.ts";

const TOKEN = "ghs_testtoken_0123456789abcdef";
const SHA = "0123456789abcdef0123456789abcdef01234567";
const HEAD = "fedcba9876543210fedcba9876543210fedcba98";

interface Seen {
  method: string;
  path: string;
  auth: string | null;
  body: { state: string; context: string; description: string; target_url?: string };
}
let seen: Seen[] = [];
let failWith = 0;
let server: ReturnType<typeof Bun.serve>;

beforeAll(() => {
  server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    async fetch(req) {
      seen.push({
        method: req.method,
        path: new URL(req.url).pathname,
        auth: req.headers.get("authorization"),
        body: (await req.json()) as Seen["body"],
      });
      return failWith ? new Response(JSON.stringify({ message: "boom" }), { status: failWith }) : Response.json({ id: 1 }, { status: 201 });
    },
  });
});
afterAll(() => server.stop(true));
beforeEach(() => {
  seen = [];
  failWith = 0;
});

const project = () =>
  fixture({
    Makefile: "test-unit:\n\t@echo unit ok\nlint-static:\n\t@echo lint is unhappy; exit 3\n",
    "devflow.toml": '[runtime]\nprofile = "host"\n[targets]\npr = ["lint:static", "test:unit"]\n',
  });

function githubEnv(extra: Record<string, string | undefined> = {}) {
  return {
    GITHUB_TOKEN: TOKEN,
    GITHUB_REPOSITORY: "acme/app",
    GITHUB_SHA: SHA,
    GITHUB_API_URL: `http://127.0.0.1:${server.port}`,
    GITHUB_SERVER_URL: "https://github.example",
    GITHUB_RUN_ID: "42",
    ...extra,
  };
}

describe("--report <context>: commit status", () => {
  test("pending then success for a passing run, with the token as a bearer header", async () => {
    const dir = project();
    const r = await runDwf(["test:unit", "--no-cache", "--report", "dwf/unit"], { cwd: dir, env: githubEnv() });
    expect(r.code).toBe(0);
    expect(seen.map((s) => [s.method, s.path, s.body.state, s.body.context])).toEqual([
      ["POST", `/repos/acme/app/statuses/${SHA}`, "pending", "dwf/unit"],
      ["POST", `/repos/acme/app/statuses/${SHA}`, "success", "dwf/unit"],
    ]);
    expect(seen[0]!.auth).toBe(`Bearer ${TOKEN}`);
    expect(seen[1]!.body.description).toBe("1 passed");
    expect(seen[1]!.body.target_url).toBe("https://github.example/acme/app/actions/runs/42");
    expect(r.all).not.toContain(TOKEN);
  });

  test("failure state when a task fails; the pull request's head SHA is used", async () => {
    const dir = project();
    const event = join(dir, "event.json");
    writeFileSync(event, JSON.stringify({ pull_request: { head: { sha: HEAD } } }));
    const r = await runDwf(["verify", "--no-cache", "--report", "dwf/pr"], { cwd: dir, env: githubEnv({ GITHUB_EVENT_PATH: event }) });
    expect(r.code).toBe(1);
    expect(seen.map((s) => [s.path, s.body.state])).toEqual([
      [`/repos/acme/app/statuses/${HEAD}`, "pending"],
      [`/repos/acme/app/statuses/${HEAD}`, "failure"],
    ]);
    expect(seen[1]!.body.description).toBe("1 passed, 1 failed");
  });

  test("no token: nothing is posted, the run is unchanged, a debug note says why", async () => {
    const dir = project();
    const r = await runDwf(["test:unit", "--no-cache", "--report", "dwf/unit"], {
      cwd: dir,
      env: githubEnv({ GITHUB_TOKEN: undefined, DWF_LOG: "debug" }),
    });
    expect(r.code).toBe(0);
    expect(seen).toEqual([]);
    expect(r.stderr).toContain("GITHUB_TOKEN is not set");
    expect(r.stderr).not.toContain("warning");
  });

  test("an API error is a warning and never changes the exit code; the token is not printed", async () => {
    failWith = 500;
    const dir = project();
    const ok = await runDwf(["test:unit", "--no-cache", "--report", "dwf/unit"], { cwd: dir, env: githubEnv({ DWF_LOG: "debug" }) });
    expect(ok.code).toBe(0);
    expect(ok.stderr).toContain("warning: could not post GitHub status 'dwf/unit'");
    expect(ok.stderr).toContain("HTTP 500");
    expect(ok.all).not.toContain(TOKEN);
    const bad = await runDwf(["lint:static", "--no-cache", "--report", "dwf/lint"], { cwd: dir, env: githubEnv() });
    expect(bad.code).toBe(1);
    expect(seen.length).toBe(4);
  });

  test("without --report nothing is posted even with a token", async () => {
    const dir = project();
    expect((await runDwf(["test:unit", "--no-cache"], { cwd: dir, env: githubEnv() })).code).toBe(0);
    expect(seen).toEqual([]);
  });
});

describe("inside GitHub Actions", () => {
  test("GITHUB_ACTIONS=true: step summary table, ::error for the failed task, ::group:: per task output", async () => {
    const dir = project();
    const summary = join(dir, "summary.md");
    const r = await runDwf(["verify", "--no-cache"], { cwd: dir, env: { GITHUB_ACTIONS: "true", GITHUB_STEP_SUMMARY: summary } });
    expect(r.code).toBe(1);
    const md = readFileSync(summary, "utf8");
    expect(md).toContain("| Task | Stack | Status | Time |");
    expect(md).toMatch(/\| `lint:static` \| custom \| ❌ failed \|/);
    expect(md).toMatch(/\| `test:unit` \| custom \| ✅ passed \|/);
    expect(r.stderr).toMatch(/^::error title=dwf lint%3Astatic \[custom\]::dwf lint:static \[custom\] failed.*%0Alint is unhappy/m);
    expect(r.stderr).not.toContain("::error title=dwf test%3Aunit");
    expect(r.stdout).toContain("::group::output of test:unit [custom]\nunit ok\n::endgroup::");
    expect(r.stdout).toContain("::group::output of lint:static [custom]");
  });

  test("a single streamed task folds into one group", async () => {
    const dir = project();
    const r = await runDwf(["test:unit", "--no-cache"], { cwd: dir, env: { GITHUB_ACTIONS: "true" } });
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/::group::test:unit \[custom\]\nunit ok\n::endgroup::\n/);
  });

  test("outside GitHub Actions: no summary, no annotations, no groups", async () => {
    const dir = project();
    const summary = join(dir, "summary.md");
    const r = await runDwf(["verify", "--no-cache"], { cwd: dir, env: { GITHUB_STEP_SUMMARY: summary } });
    expect(r.code).toBe(1);
    expect(existsSync(summary)).toBe(false);
    expect(r.all).not.toContain("::error");
    expect(r.all).not.toContain("::group::");
    expect(r.stdout).toContain("lint is unhappy");
  });
});
