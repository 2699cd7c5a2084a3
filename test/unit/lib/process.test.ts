// The external-extension protocol: answer parsing, relative programs, trust, and the
// once-per-process call cache (with tiny /bin/sh extensions).
import { describe, expect, test } from "bun:test";
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll } from "bun:test";
import {
  ActionSchema,
  DiscoverSchema,
  DescribeSchema,
  clearCallCache,
  loadExternalExtension,
  parseAnswer,
  resolveRelativeProgram,
} from "../../../extensions/external/protocol.ts";
import { callBounded } from "../../../src/lib/process.ts";
import { createContext } from "../../../src/core/context.ts";
import { UserError } from "../../../src/lib/errors.ts";

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), "dwf-sub-"));
  dirs.push(d);
  return d;
}

function script(dir: string, name: string, body: string): string {
  const p = join(dir, name);
  writeFileSync(p, `#!/bin/sh\n${body}\n`);
  chmodSync(p, 0o755);
  return p;
}

describe("parseAnswer", () => {
  test("accepts a capability list and rejects other shapes", () => {
    expect(parseAnswer(DiscoverSchema, '["test", "lint:static"]', "x")).toEqual(["test", "lint:static"]);
    expect(() => parseAnswer(DiscoverSchema, '{"test": 1}', "x")).toThrow(/wrong shape/);
    expect(() => parseAnswer(DiscoverSchema, '["Test Unit"]', "x")).toThrow(/at \[0\]/);
    expect(() => parseAnswer(DiscoverSchema, "", "x")).toThrow(/printed nothing/);
  });

  test("an action defaults args and keeps env", () => {
    expect(parseAnswer(ActionSchema, '{"program":"pytest"}', "x")).toEqual({ program: "pytest", args: [] } as never);
    expect(() => parseAnswer(ActionSchema, '{"program":"x","args":[1]}', "x")).toThrow(/\.args\[0\]/);
    expect(() => parseAnswer(ActionSchema, '{"program":""}', "x")).toThrow(/program/);
  });

  test("--describe needs an integer api_version", () => {
    expect(parseAnswer(DescribeSchema, '{"api_version":1}', "x").cache_mounts).toEqual([]);
    expect(() => parseAnswer(DescribeSchema, '{"capabilities":[]}', "x")).toThrow(/api_version/);
  });
});

describe("resolveRelativeProgram", () => {
  test("bare names and absolute paths pass through", () => {
    expect(resolveRelativeProgram("pytest", undefined, "/p")).toBe("pytest");
    expect(resolveRelativeProgram("/usr/bin/env", undefined, "/p")).toBe("/usr/bin/env");
  });
  test("relative paths are taken from the root and rewritten for the action's cwd", () => {
    expect(resolveRelativeProgram("./run-tests", undefined, "/p")).toBe("./run-tests");
    expect(resolveRelativeProgram("bin/x", undefined, "/p")).toBe("./bin/x");
    expect(resolveRelativeProgram("./tools/x", "sub/dir", "/p")).toBe("../../tools/x");
  });
  test("paths leaving the root are rejected", () => {
    expect(() => resolveRelativeProgram("../x", undefined, "/p")).toThrow(/outside the project root/);
    expect(() => resolveRelativeProgram("a/../../x", undefined, "/p")).toThrow(/outside/);
  });
});

describe("callBounded", () => {
  test("a timeout kills the whole process group", async () => {
    const dir = tmp();
    const marker = join(dir, "grandchild-ran");
    const p = script(dir, "slow", `(sleep 1; touch ${marker}) &\nsleep 30`);
    await expect(callBounded([p], { cwd: dir, timeoutMs: 300 })).rejects.toThrow(/did not answer within 0.3 s/);
    await Bun.sleep(1300);
    expect(() => readFileSync(marker)).toThrow();
  });
});

describe("loadExternalExtension", () => {
  test("an untrusted extension is not run on the host under the container profile", async () => {
    const dir = tmp();
    const counter = join(dir, "calls");
    script(dir, "devflow-ext-acme", `echo x >> ${counter}\necho '["test"]'`);
    const ctx = createContext(dir, process.env);
    const cfg = { source: "path" as const, path: "devflow-ext-acme" };
    const err = await loadExternalExtension("acme", cfg, ctx, { file: "devflow.toml", profile: "container" }).catch((e) => e);
    expect(err).toBeInstanceOf(UserError);
    expect(err.message).toContain("not trusted");
    expect(err.hint).toContain("trusted = true");
    expect(() => readFileSync(counter)).toThrow();
    const ext = await loadExternalExtension("acme", { ...cfg, trusted: true }, ctx, { file: "devflow.toml", profile: "container" });
    expect(await ext.capabilities(ctx)).toEqual(["test"]);
  });

  test("discover and build-action are asked once per process", async () => {
    clearCallCache();
    const dir = tmp();
    const counter = join(dir, "calls");
    script(
      dir,
      "ext",
      `echo "$1" >> ${counter}\ncase "$1" in --discover) echo '["test"]';; --build-action) cat >/dev/null; echo '{"program":"true","args":[]}';; *) exit 1;; esac`,
    );
    const ctx = createContext(dir, process.env);
    const cfg = { source: "path" as const, path: "./ext" };
    for (let i = 0; i < 3; i++) {
      const ext = await loadExternalExtension("acme", cfg, ctx, { file: "devflow.toml" });
      await ext.buildAction({ primary: "test", selector: "unit" }, ctx);
    }
    const calls = readFileSync(counter, "utf8").trim().split("\n").sort();
    expect(calls).toEqual(["--build-action", "--describe", "--discover"]);
  });

  test("--describe supplies capabilities, env, cache mounts and fingerprint inputs", async () => {
    const dir = tmp();
    script(
      dir,
      "ext",
      `case "$1" in --describe) echo '{"api_version":1,"capabilities":["lint"],"cache_mounts":[{"path":"c","container":"/c","env":"C_DIR"}],"env":{"A":"1"},"fingerprint_inputs":["deps.txt"]}';; --discover) echo '["test"]';; *) exit 1;; esac`,
    );
    const ctx = createContext(dir, process.env);
    const ext = await loadExternalExtension("acme", { path: "./ext" }, ctx, { file: "devflow.toml" });
    expect(await ext.capabilities(ctx)).toEqual(["lint"]);
    expect(await ext.env!(ctx)).toEqual({ A: "1" });
    expect(await ext.cacheMounts!(ctx)).toEqual([{ path: "c", container: "/c", env: "C_DIR" }]);
    expect(await ext.fingerprintInputs!(ctx)).toContain("deps.txt");
  });

  test("--describe may name the dependencies setup:deps installs; a path outside the project is refused by name", async () => {
    const dir = tmp();
    script(
      dir,
      "ext",
      `case "$1" in --describe) echo '{"api_version":1,"dependencies":{"inputs":["deps.lock"],"paths":["vendor/deps"]}}';; --discover) echo '["test"]';; *) exit 1;; esac`,
    );
    const ctx = createContext(dir, process.env);
    const ext = await loadExternalExtension("acme", { path: "./ext" }, ctx, { file: "devflow.toml" });
    expect(await ext.dependencies!(ctx)).toEqual({ inputs: ["deps.lock"], paths: ["vendor/deps"] });

    script(
      dir,
      "bad",
      `case "$1" in --describe) echo '{"api_version":1,"dependencies":{"inputs":["deps.lock"],"paths":["../elsewhere"]}}';; --discover) echo '["test"]';; *) exit 1;; esac`,
    );
    const err = await loadExternalExtension("bad", { path: "./bad" }, ctx, { file: "devflow.toml" }).catch((e: Error) => e);
    expect(err).toBeInstanceOf(UserError);
    expect((err as Error).message).toContain(`--describe: invalid 'dependencies': 'paths' holds "../elsewhere"`);

    script(dir, "none", `case "$1" in --describe) echo '{"api_version":1}';; --discover) echo '["test"]';; *) exit 1;; esac`);
    const none = await loadExternalExtension("none", { path: "./none" }, ctx, { file: "devflow.toml" });
    expect(await none.dependencies!(ctx)).toBeUndefined();
  });
});
