// Pure parts of GitHub reporting: which request is made, states, summary and annotations.
import { describe, expect, test } from "bun:test";
import { annotations, stateFor, statusRequest, summaryMarkdown } from "../../../../src/ci/github/status.ts";
import type { TaskResult } from "../../../../src/core/scheduler.ts";

const result = (selector: string, status: TaskResult["status"], output = "", exitCode?: number): TaskResult => ({
  task: { id: `test:${selector}@x`, ref: { primary: "test", selector }, stack: "x|y", deps: [], exclusive: false },
  status,
  durationMs: 1500,
  exitCode,
  output,
});

describe("statusRequest", () => {
  const env = { GITHUB_TOKEN: "t0ken-value", GITHUB_REPOSITORY: "o/r", GITHUB_SHA: "a".repeat(40) };
  test("targets the statuses endpoint of the default API", () => {
    const r = statusRequest(env, "ctx", "pending", "x".repeat(200));
    expect("url" in r && r.url).toBe(`https://api.github.com/repos/o/r/statuses/${"a".repeat(40)}`);
    expect("body" in r && r.body.description.length).toBe(140);
  });
  test("says why it cannot post", () => {
    expect(statusRequest({ ...env, GITHUB_TOKEN: "" }, "c", "pending", "")).toEqual({ skip: "GITHUB_TOKEN is not set" });
    expect("skip" in statusRequest({ ...env, GITHUB_REPOSITORY: "nope" }, "c", "pending", "")).toBe(true);
    expect("skip" in statusRequest({ ...env, GITHUB_SHA: undefined }, "c", "pending", "")).toBe(true);
  });
});

test("exit codes map to status states", () => {
  expect([0, 1, 2, 130].map(stateFor)).toEqual(["success", "failure", "error", "error"]);
});

test("annotations escape workflow-command syntax and cover failed tasks only", () => {
  const out = annotations([result("unit", "failed", "50% done\nline: two\n", 3), result("all", "passed", "fine")]);
  expect(out).toBe("::error title=dwf test%3Aunit [x|y]::dwf test:unit [x|y] failed (exit code 3)%0A50%25 done%0Aline: two\n");
});

test("summary escapes table cells", () => {
  const md = summaryMarkdown("check:pr", [result("unit", "passed")], 0);
  expect(md).toContain("| `test:unit` | x\\|y | ✅ passed | 1.5s |");
});
