// The task cache key and entries, and the tree hash under it, against real temp trees: which
// changes invalidate which tasks, damaged entries, the stat cache and the non-git walk.
import { afterEach, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import type { CommandRef, Extension } from "../../../src/sdk/types.ts";
import type { Prepared, PreparedTask } from "../../../src/core/prepare.ts";
import type { Runner } from "../../../src/core/runner.ts";
import { createTaskCache } from "../../../src/cache/task-cache.ts";
import { entryPath, parseEntry } from "../../../src/cache/entries.ts";
import { EXACT_VERSION, inheritedKeyEnv, reportsVersion, taskKey, type KeyParts } from "../../../src/cache/task-key.ts";
import { rust } from "../../../extensions/rust/index.ts";
import { node } from "../../../extensions/node/index.ts";
import { go } from "../../../extensions/go/index.ts";
import { python } from "../../../extensions/python/index.ts";
import { hashTree, treeDigest } from "../../../src/cache/tree-hash.ts";
import { createContext } from "../../../src/core/context.ts";
import { imageFingerprint } from "../../../src/core/fingerprint.ts";

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function tree(files: Record<string, string>, git = true): string {
  const root = mkdtempSync(join(tmpdir(), "dwf-tc-"));
  dirs.push(root);
  for (const [rel, content] of Object.entries(files)) {
    mkdirSync(dirname(join(root, rel)), { recursive: true });
    writeFileSync(join(root, rel), content);
  }
  if (git) Bun.spawnSync(["git", "init", "-q"], { cwd: root });
  return root;
}

/** Make every file look old, so the stat cache may trust it (recent files are always re-read). */
function age(root: string, rels: string[]): void {
  const old = new Date(Date.now() - 3600_000);
  for (const r of rels) utimesSync(join(root, r), old, old);
}

const base: KeyParts = {
  task: "test:unit@x",
  program: "make",
  args: ["test-unit"],
  env: {},
  inherited: {},
  cwd: "",
  runner: "host",
  environment: "tool:a",
  extension: "e",
  tree: "t",
};

describe("taskKey", () => {
  test("every part of the key changes it; env order does not", () => {
    const k = taskKey(base);
    const variants: Partial<KeyParts>[] = [
      { task: "lint:static@x" },
      { program: "just" },
      { args: ["test-unit", "-j2"] },
      { env: { A: "1" } },
      { inherited: { A: "1" } },
      { cwd: "sub" },
      { runner: "container" },
      { environment: "tool:b" },
      { extension: "f" },
      { tree: "u" },
    ];
    for (const v of variants) expect(taskKey({ ...base, ...v })).not.toBe(k);
    expect(taskKey({ ...base, env: { A: "1", B: "2" } })).toBe(taskKey({ ...base, env: { B: "2", A: "1" } }));
    expect(k).toMatch(/^[0-9a-f]{64}$/);
  });

  test("keys stay the same across dwf versions that share the format: entries written before are still found", () => {
    const parts: KeyParts = { ...base, env: { B: "2", A: 'x"y' }, inherited: { PATH: "/bin", HOME: "/h" } };
    // The documented canonical form: SHA-256 of this JSON array.
    const canonical = JSON.stringify([
      "dwf-task-v2",
      parts.task,
      parts.program,
      parts.args,
      [
        ["A", 'x"y'],
        ["B", "2"],
      ],
      [
        ["HOME", "/h"],
        ["PATH", "/bin"],
      ],
      parts.cwd,
      parts.runner,
      parts.environment,
      parts.extension,
      parts.tree,
    ]);
    const expected = new Bun.CryptoHasher("sha256").update(canonical).digest("hex");
    expect(taskKey(parts)).toBe(expected);
    // The inherited part is remembered per object; a changed object gives a new key.
    expect(taskKey({ ...parts, inherited: { ...parts.inherited, PATH: "/usr/bin" } })).not.toBe(expected);
  });
});

describe("inheritedKeyEnv", () => {
  test("host tasks key on the inherited env minus session noise; containers on a fixed CI=true, whatever the host has", () => {
    const env = {
      FOO: "1",
      PATH: "/bin",
      PWD: "/x",
      SHLVL: "2",
      TERM: "xterm",
      GITHUB_RUN_ID: "9",
      DWF_LOG: "debug",
      CI: "true",
      GONE: undefined,
    };
    expect(inheritedKeyEnv(env, "host")).toEqual({ FOO: "1", PATH: "/bin", TERM: "xterm", CI: "true" });
    expect(inheritedKeyEnv(env, "container")).toEqual({ CI: "true" });
    expect(inheritedKeyEnv({ FOO: "1" }, "container")).toEqual({ CI: "true" });
    expect(inheritedKeyEnv({ CI: "1" }, "container")).toEqual({ CI: "true" });
    expect(inheritedKeyEnv({}, "container")).toEqual({ CI: "true" });
  });

  test("only exact names are session noise; look-alikes and build-describing CI variables are hashed", () => {
    const noise = ["PS1", "HISTFILE", "SSH_AUTH_SOCK", "TMUX_PANE", "GITHUB_RUN_ID", "GITHUB_OUTPUT", "ACTIONS_RUNTIME_TOKEN", "_"];
    const kept = [
      "HISTOGRAM_MODE",
      "LESSON",
      "WT_PROFILE",
      "GITHUB_REF",
      "GITHUB_SHA",
      "RUNNER_TEMP",
      "TERM",
      "TERM_PROGRAM",
      "LS_COLORS",
      "SSH_KEY_PATH",
      "DWF_TEST_BINARY",
      "PS5",
      "LD_LIBRARY_PATH",
    ];
    const env = Object.fromEntries([...noise, ...kept].map((k) => [k, "v"]));
    expect(Object.keys(inheritedKeyEnv(env, "host")).sort()).toEqual([...kept].sort());
  });
});

describe("parseEntry", () => {
  const key = "a".repeat(64);
  const good = { version: 1, key, task: "t", durationMs: 12, output: "ok", created: "2026-01-01T00:00:00Z" };
  test("accepts a well-formed entry for the same key and task", () => {
    expect(parseEntry(JSON.stringify(good), key, "t")?.output).toBe("ok");
  });
  test("rejects truncated JSON, another key, another task, wrong shapes", () => {
    expect(parseEntry(JSON.stringify(good).slice(0, 20), key, "t")).toBeNull();
    expect(parseEntry(JSON.stringify(good), "b".repeat(64), "t")).toBeNull();
    expect(parseEntry(JSON.stringify(good), key, "other")).toBeNull();
    expect(parseEntry(JSON.stringify({ ...good, durationMs: "12" }), key, "t")).toBeNull();
    expect(parseEntry(JSON.stringify({ ...good, output: null }), key, "t")).toBeNull();
    expect(parseEntry(JSON.stringify({ ...good, version: 99 }), key, "t")).toBeNull();
    expect(parseEntry("null", key, "t")).toBeNull();
  });
});

describe("hashTree", () => {
  test("a cold tree of thousands of files hashed on two threads gives exactly the digests one thread gives", async () => {
    const files: Record<string, string> = { "link-target.txt": "t", "empty.txt": "" };
    for (let i = 0; i < 2600; i++) files[`d${i % 40}/f${i}.txt`] = `file ${i}\n`.repeat(1 + (i % 50));
    const root = tree(files);
    writeFileSync(join(root, "run.sh"), "#!/bin/sh\n", { mode: 0o755 });
    Bun.spawnSync(["ln", "-s", "link-target.txt", join(root, "link")]);
    // Big enough to be streamed rather than read in one go.
    writeFileSync(join(root, "big.bin"), Buffer.alloc(9 * 1024 * 1024, 7));
    const one = await hashTree(root, { parallel: false });
    const two = await hashTree(root, { parallel: true });
    expect(one.stats.read).toBe(2600 + 4);
    expect(one.stats.readOnWorker).toBeUndefined();
    expect(two.stats.readOnWorker).toBeGreaterThan(1000);
    expect({ ...two.stats, readOnWorker: undefined }).toEqual({ ...one.stats, readOnWorker: undefined });
    expect([...two.files]).toEqual([...one.files]);
    expect(two.files.get("run.sh")!.startsWith("x")).toBe(true);
    expect(two.files.get("link")).toBe("link:link-target.txt");
    expect(treeDigest(two.files)).toBe(treeDigest(one.files));
    // And with a stat cache: cold on two threads, then warm, then one changed file re-read.
    const cacheRoot = mkdtempSync(join(tmpdir(), "dwf-tc-"));
    const cold = await hashTree(root, { cacheRoot, parallel: true, racyMs: 0 });
    expect(treeDigest(cold.files)).toBe(treeDigest(one.files));
    writeFileSync(join(root, "d3/f3.txt"), "changed\n");
    const warm = await hashTree(root, { cacheRoot, parallel: true, racyMs: 0 });
    expect(warm.stats.read).toBe(1);
    expect(warm.files.get("d3/f3.txt")).not.toBe(one.files.get("d3/f3.txt"));
  });

  test("lists tracked and untracked files but not ignored ones nor the cache root", async () => {
    const root = tree({ "a.txt": "a", ".gitignore": "out/\n", "out/x": "x", "src/b.txt": "b", ".cache/devflow/tasks/z.json": "{}" });
    const { files, stats } = await hashTree(root, { exclude: [join(root, ".cache/devflow")] });
    expect([...files.keys()]).toEqual([".gitignore", "a.txt", "src/b.txt"]);
    expect(stats.git).toBe(true);
  });

  test("outside git it walks the tree, skipping .git and the cache root", async () => {
    const root = tree({ "a.txt": "a", "sub/b.txt": "b", "cache/x": "x" }, false);
    const { files, stats } = await hashTree(root, { exclude: [join(root, "cache")] });
    expect(stats.git).toBe(false);
    expect([...files.keys()]).toEqual(["a.txt", "sub/b.txt"]);
  });

  test("the stat cache skips unchanged files and re-reads changed ones", async () => {
    const root = tree({ "a.txt": "a", "b.txt": "b" });
    const cacheRoot = join(root, ".cache");
    age(root, ["a.txt", "b.txt"]);
    // The files were just written (their ctime is now): by default they are not trusted yet.
    await hashTree(root, { cacheRoot, exclude: [cacheRoot] });
    expect((await hashTree(root, { cacheRoot, exclude: [cacheRoot] })).stats.read).toBe(2);
    const opts = { cacheRoot, exclude: [cacheRoot], racyMs: 0 };
    const first = await hashTree(root, opts);
    expect(first.stats.read).toBe(2);
    const second = await hashTree(root, opts);
    expect(second.stats).toMatchObject({ read: 0, reused: 2 });
    expect(treeDigest(second.files)).toBe(treeDigest(first.files));
    writeFileSync(join(root, "a.txt"), "A");
    const third = await hashTree(root, opts);
    expect(third.stats).toMatchObject({ read: 1, reused: 1 });
    expect(treeDigest(third.files)).not.toBe(treeDigest(first.files));
  });

  test("a damaged stat cache is ignored, not trusted", async () => {
    const root = tree({ "a.txt": "a" });
    const cacheRoot = join(root, ".cache");
    await hashTree(root, { cacheRoot, exclude: [cacheRoot], racyMs: 0 });
    const statDir = join(cacheRoot, "tasks", "stat");
    const file = join(statDir, Bun.spawnSync(["ls", statDir]).stdout.toString().trim());
    writeFileSync(file, "{not json");
    const again = await hashTree(root, { cacheRoot, exclude: [cacheRoot], racyMs: 0 });
    expect(again.stats.read).toBe(1);
  });

  test("treeDigest with prefixes sees only files under them", async () => {
    const root = tree({ "src/a.rs": "1", "README.md": "r", "srcx/b": "2" });
    const before = (await hashTree(root)).files;
    writeFileSync(join(root, "README.md"), "changed");
    writeFileSync(join(root, "srcx/b"), "changed");
    const after = (await hashTree(root)).files;
    expect(treeDigest(after, ["src/"])).toBe(treeDigest(before, ["./src"]));
    expect(treeDigest(after)).not.toBe(treeDigest(before));
  });
});

// A fake stack whose `fmt` looks only at src/, like an extension narrowing a formatter's inputs.
function fakePrepared(root: string): { prepared: Prepared; task: (ref: CommandRef) => PreparedTask } {
  const ext: Extension = {
    name: "fake",
    description: "",
    detect: () => true,
    capabilities: () => ["fmt", "test"],
    buildAction: () => ({ action: { program: "true", args: [] } }),
    fingerprintInputs: () => ["fake.lock"],
    taskInputs: (ref) => (ref.primary === "fmt" ? ["src"] : undefined),
  };
  const ctx = createContext(root);
  const stack = { name: "fake", ext, capabilities: ["fmt", "test"], reason: "declared" as const, external: false };
  const prepared = {
    loaded: { root, config: {}, path: null, text: "" },
    registry: { stacks: [stack], ctx, warnings: [] },
    cacheRoot: join(root, ".cache/devflow"),
  } as unknown as Prepared;
  prepared.fingerprint = () => imageFingerprint(prepared.registry, prepared.loaded.config, root);
  const task = (ref: CommandRef): PreparedTask => ({
    task: { id: `${ref.primary}:${ref.selector}@fake`, ref, stack: "fake", deps: [] } as unknown as PreparedTask["task"],
    stack,
    action: { program: "true", args: [ref.primary] },
    env: {},
    cwd: root,
    cacheable: true,
  });
  return { prepared, task };
}

const runner = (kind: "host" | "container"): Runner => ({
  kind,
  commandLine: () => [],
  run: async () => ({ exitCode: 0, output: "", durationMs: 0 }),
  stopAll: async () => {},
});

async function keysOf(root: string, kind: "host" | "container" = "host") {
  const { prepared, task } = fakePrepared(root);
  const cache = createTaskCache({ cacheRoot: prepared.cacheRoot, prepared });
  return {
    fmt: await cache.keyFor(task({ primary: "fmt", selector: "check" }), runner(kind)),
    test: await cache.keyFor(task({ primary: "test", selector: "unit" }), runner(kind)),
  };
}

describe("createTaskCache keys", () => {
  test("a change outside a task's narrowed inputs keeps its key; other tasks get a new one", async () => {
    const root = tree({ "src/main.x": "fn", "docs/guide.md": "d", "fake.lock": "1" });
    const a = await keysOf(root);
    writeFileSync(join(root, "docs/guide.md"), "changed");
    const b = await keysOf(root);
    expect(b.fmt).toBe(a.fmt);
    expect(b.test).not.toBe(a.test);
    writeFileSync(join(root, "src/main.x"), "changed");
    const c = await keysOf(root);
    expect(c.fmt).not.toBe(b.fmt);
    expect(c.test).not.toBe(b.test);
  });

  test("a fingerprint input change (lockfile) invalidates every task of the stack", async () => {
    const root = tree({ "src/main.x": "fn", "fake.lock": "1" });
    const a = await keysOf(root);
    writeFileSync(join(root, "fake.lock"), "2");
    const b = await keysOf(root);
    expect(b.fmt).not.toBe(a.fmt);
    expect(b.test).not.toBe(a.test);
  });

  // The container runner is exercised through its key: a Dockerfile change moves the image
  // fingerprint, so every container task gets a new key, while host keys do not depend on it.
  test("a Dockerfile.devflow change re-keys every container task, not host tasks", async () => {
    const root = tree({ "src/main.x": "fn", "fake.lock": "1", ".gitignore": "Dockerfile.devflow\n", "Dockerfile.devflow": "FROM a\n" });
    const c1 = await keysOf(root, "container");
    const h1 = await keysOf(root, "host");
    expect(c1.test).not.toBe(h1.test);
    writeFileSync(join(root, "Dockerfile.devflow"), "FROM b\n");
    const c2 = await keysOf(root, "container");
    const h2 = await keysOf(root, "host");
    expect(c2.fmt).not.toBe(c1.fmt);
    expect(c2.test).not.toBe(c1.test);
    expect(h2).toEqual(h1);
  });

  test("store then lookup round-trips; failures are not stored; a damaged entry is a miss", async () => {
    const root = tree({ "src/main.x": "fn" });
    const { prepared, task } = fakePrepared(root);
    const cache = createTaskCache({ cacheRoot: prepared.cacheRoot, prepared });
    const t = task({ primary: "test", selector: "unit" });
    const r = runner("host");
    expect(await cache.lookup(t, r)).toBeNull();
    await cache.store(t, r, { exitCode: 1, output: "boom", durationMs: 5 });
    expect(await cache.lookup(t, r)).toBeNull();
    await cache.store(t, r, { exitCode: 0, output: "all good", durationMs: 42 });
    expect(await cache.lookup(t, r)).toEqual({ durationMs: 42, output: "all good" });
    const path = entryPath(prepared.cacheRoot, await cache.keyFor(t, r));
    expect(existsSync(path)).toBe(true);
    writeFileSync(path, readFileSync(path, "utf8").slice(0, 30));
    expect(await cache.lookup(t, r)).toBeNull();
  });
});

describe("tool pins", () => {
  test("a version report matches only the exact version pinned", () => {
    expect(reportsVersion("cargo 1.95.0 (f2d3ce0bd 2026-03-21)", "1.95.0")).toBe(true);
    expect(reportsVersion("v20.20.2", "20.20.2")).toBe(true);
    expect(reportsVersion("go version go1.23.4 linux/amd64", "1.23.4")).toBe(true);
    expect(reportsVersion("Python 3.11.7", "3.11.7")).toBe(true);
    expect(reportsVersion("cargo 1.95.1 (…)", "1.95.0")).toBe(false);
    expect(reportsVersion("v20.20.21", "20.20.2")).toBe(false);
    expect(reportsVersion("v120.20.2", "20.20.2")).toBe(false);
    expect(reportsVersion("cargo 1.95.0-nightly (…)", "1.95.0")).toBe(false);
    expect(EXACT_VERSION.test("1.95.0")).toBe(true);
    expect(EXACT_VERSION.test("3.12.1rc1")).toBe(false);
    for (const loose of ["stable", "22", "lts/*", "1.95", "^20.1.0", ">=18"]) expect(EXACT_VERSION.test(loose)).toBe(false);
  });

  test("each stack names its pin file and the tool's own version command", () => {
    const dir = mkdtempSync(join(tmpdir(), "dwf-pins-"));
    const ctx = { root: dir, env: {}, which: () => null };
    writeFileSync(join(dir, "rust-toolchain.toml"), '[toolchain]\nchannel = "1.95.0"\ncomponents = ["rustfmt"]\n');
    expect(rust.toolPins!("cargo", ctx)).toEqual([{ file: "rust-toolchain.toml", version: "1.95.0", probe: ["cargo", "--version"] }]);
    expect(rust.toolPins!("sh", ctx)).toBeUndefined();
    writeFileSync(join(dir, ".nvmrc"), "# node\nv22.12.0\n");
    writeFileSync(join(dir, "package.json"), JSON.stringify({ packageManager: "pnpm@9.15.0+sha512.abc" }));
    expect(node.toolPins!("pnpm", ctx)).toEqual([
      { file: ".nvmrc", version: "22.12.0", probe: ["node", "--version"] },
      { file: "package.json", version: "9.15.0", probe: ["pnpm", "--version"] },
    ]);
    // npm is not what packageManager pins: not pinned.
    expect(node.toolPins!("npm", ctx)).toBeUndefined();
    writeFileSync(join(dir, "go.mod"), "module x\n\ngo 1.23\ntoolchain go1.23.4\n");
    expect(go.toolPins!("go", ctx)).toEqual([{ file: "go.mod", version: "1.23.4", probe: ["go", "version"] }]);
    writeFileSync(join(dir, ".python-version"), "3.11.7\n");
    expect(python.toolPins!("python3", ctx)).toEqual([{ file: ".python-version", version: "3.11.7", probe: ["python3", "--version"] }]);
  });
});
