// Hostile extension outputs checked by the core before anything runs: NUL bytes, env names
// that are not identifiers, cwd and cache mounts escaping their roots, huge or deep JSON.
import { describe, expect, test } from "bun:test";
import { validateAction } from "../../../src/core/prepare.ts";
import { cacheMountHostPath } from "../../../src/core/cache-root.ts";
import { ActionSchema, parseAnswer } from "../../../extensions/external/protocol.ts";
import { UserError } from "../../../src/lib/errors.ts";
import { createStreamRedactor } from "../../../src/lib/redact.ts";
import type { ExecutionAction } from "../../../src/sdk/types.ts";
import type { Task } from "../../../src/core/plan.ts";

const task = { ref: { primary: "test", selector: "unit" } } as unknown as Task;

function rejection(action: unknown): string {
  try {
    validateAction(action as ExecutionAction, "evil", task);
  } catch (e) {
    expect(e).toBeInstanceOf(UserError);
    return (e as Error).message;
  }
  return "accepted";
}

describe("validateAction", () => {
  test.each([
    [{ program: "", args: [] }, "'program' must be a non-empty string"],
    [{ program: "   ", args: [] }, "'program' must be a non-empty string"],
    [{ program: "a\0b", args: [] }, "NUL byte"],
    [{ program: "x", args: ["ok", "b\0d"] }, "NUL byte"],
    [{ program: "x", args: "rm -rf /" }, "'args' must be an array of strings"],
    [{ program: "x", args: [1] }, "'args' must be an array of strings"],
    [{ program: "x", args: [], env: { "A B": "1" } }, 'env name "A B" is not a valid variable name'],
    [{ program: "x", args: [], env: { "1A": "1" } }, "is not a valid variable name"],
    [{ program: "x", args: [], env: { "A=B": "1" } }, "is not a valid variable name"],
    [{ program: "x", args: [], env: { "$(id)": "1" } }, "is not a valid variable name"],
    [{ program: "x", args: [], env: { "": "1" } }, "is not a valid variable name"],
    [{ program: "x", args: [], env: { OK: "a\0b" } }, "without NUL bytes"],
    [{ program: "x", args: [], cwd: "/etc" }, "'cwd' must be a path inside the project"],
    [{ program: "x", args: [], cwd: "a/../../b" }, "'cwd' must be a path inside the project"],
  ])("rejects %j", (action, message) => {
    const text = rejection(action);
    expect(text).toContain(message);
    expect(text).toContain("extension 'evil'");
    expect(text).toContain("test:unit");
  });

  test("passes shell metacharacters through untouched (they are argv, not a shell line)", () => {
    const args = ["a b", `"q"`, "'s'", "x\ny", "$(touch /tmp/pwned)", "`id`", "; rm -rf /", "*", "$HOME", "\\"];
    const action = { program: "my prog", args: [...args], env: { SAFE_NAME: "$(id)" } };
    expect(rejection(action)).toBe("accepted");
    expect(action.args).toEqual(args);
  });
});

describe("cacheMountHostPath", () => {
  const root = "/cache/root";
  test.each(["../x", "a/../../x", "/etc", "..", "a/..\\..\\b", ""])("refuses %j", (path) => {
    expect(() => cacheMountHostPath(root, "evil", { path, container: "/c" })).toThrow(UserError);
  });
  test("refuses a relative container path and keeps good paths under <root>/<extension>", () => {
    expect(() => cacheMountHostPath(root, "evil", { path: "ok", container: "rel" })).toThrow(/not absolute/);
    expect(cacheMountHostPath(root, "good", { path: "registry/index", container: "/c" })).toBe("/cache/root/good/registry/index");
  });
});

describe("external extension answers", () => {
  test("deeply nested JSON is refused with a shape error, not a crash", () => {
    const deep = `${"[".repeat(100_000)}${"]".repeat(100_000)}`;
    expect(() => parseAnswer(ActionSchema, deep, "--build-action")).toThrow(/wrong shape|not JSON/);
  });
  test("huge JSON is refused with an excerpt, not echoed whole", () => {
    const huge = JSON.stringify({ program: 1, args: Array(200_000).fill("x") });
    let message = "";
    try {
      parseAnswer(ActionSchema, huge, "--build-action");
    } catch (e) {
      message = (e as Error).message;
    }
    expect(message).toContain("wrong shape");
    expect(message.length).toBeLessThan(2000);
    const garbage = "x".repeat(1_000_000);
    expect(() => parseAnswer(ActionSchema, garbage, "--build-action")).toThrow(/not JSON/);
    try {
      parseAnswer(ActionSchema, garbage, "--build-action");
    } catch (e) {
      expect((e as Error).message.length).toBeLessThan(2000);
    }
  });
});

describe("streamed output", () => {
  test("a secret split across chunks is still masked, and nothing else is held back for long", () => {
    const r = createStreamRedactor(["hunter2-s3cret"]);
    const out = [r.push("token: hunter"), r.push("2-s3"), r.push("cret done\n"), r.push("plain line\n"), r.flush()].join("");
    expect(out).toBe("token: *** done\nplain line\n");
    expect(r.push("no secret here\n")).toBe("no secret here\n");
  });

  test("a tail that only looks like a secret's start is released at the end", () => {
    const r = createStreamRedactor(["abcdef"]);
    expect(r.push("xx abc")).toBe("xx ");
    expect(r.flush()).toBe("abc");
  });
});
