// The cache-root rules, the safe reader and the container-path check, against real temp folders.
import { afterEach, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, truncateSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { badContainerPath, ensureCacheRoot, inspectCacheRoot, resolveCacheRoot } from "../../../src/core/cache-root.ts";
import { readOwnFile } from "../../../src/lib/fs.ts";
import { UserError } from "../../../src/lib/errors.ts";
import { imageStatePath, readImageState } from "../../../src/runtime/image-state.ts";
import { loadProject } from "../../../src/core/prepare.ts";
import { extensionSource } from "../../../src/cli/wiring.ts";

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), "dwf-root-"));
  dirs.push(d);
  return d;
}

describe("readOwnFile", () => {
  test("reads a regular file; refuses FIFOs, symlinks (also to /dev/zero), directories and files over the cap", () => {
    const d = tmp();
    writeFileSync(join(d, "f"), "hello");
    expect(readOwnFile(join(d, "f"), 100)).toEqual({ text: "hello" });
    expect(readOwnFile(join(d, "f"), 5)).toEqual({ text: "hello" });
    expect(readOwnFile(join(d, "f"), 4).refused).toBe("too-large");
    Bun.spawnSync(["mkfifo", join(d, "fifo")]);
    expect(readOwnFile(join(d, "fifo"), 100).refused).toBe("not-a-file");
    symlinkSync("/dev/zero", join(d, "zero"));
    expect(readOwnFile(join(d, "zero"), 100).refused).toBe("not-a-file");
    symlinkSync(join(d, "f"), join(d, "link"));
    expect(readOwnFile(join(d, "link"), 100).refused).toBe("not-a-file");
    expect(readOwnFile(join(d, "link"), 100, { followSymlinks: true }).text).toBe("hello");
    expect(readOwnFile(join(d, "zero"), 100, { followSymlinks: true }).refused).toBe("not-a-file");
    expect(readOwnFile(d, 100).refused).toBe("not-a-file");
    expect(readOwnFile(join(d, "missing"), 100).refused).toBe("missing");
    writeFileSync(join(d, "sparse"), "");
    truncateSync(join(d, "sparse"), 1 << 30);
    expect(readOwnFile(join(d, "sparse"), 1 << 20).refused).toBe("too-large");
  });
});

describe("the image memo", () => {
  test("a FIFO or a /dev/zero link in place of images/<fingerprint>.json is nothing remembered, at once", () => {
    const root = tmp();
    mkdirSync(join(root, "images"));
    const fp = "a".repeat(64);
    Bun.spawnSync(["mkfifo", imageStatePath(root, fp)]);
    expect(readImageState(root, "x:1", fp)).toEqual({ version: 1, ref: "x:1", tools: {} });
    rmSync(imageStatePath(root, fp));
    symlinkSync("/dev/zero", imageStatePath(root, fp));
    expect(readImageState(root, "x:1", fp).tools).toEqual({});
  });
});

describe("resolveCacheRoot", () => {
  const home = "/nonexistent-home-for-test";
  test("the default and a folder inside the project are fine; the project, its parents and outside paths are not", () => {
    const project = tmp();
    expect(resolveCacheRoot(project, {}, { HOME: home })).toBe(join(project, ".cache/devflow"));
    expect(resolveCacheRoot(project, { cache: { root: "build/cache" } }, { HOME: home })).toBe(join(project, "build/cache"));
    for (const root of [".", "", "..", "../x", "/etc", "/"])
      expect(() => resolveCacheRoot(project, { cache: { root } }, { HOME: home }, "devflow.toml")).toThrow(UserError);
    expect(() => resolveCacheRoot(project, { cache: { root: "../x" } }, { HOME: home }, "devflow.toml")).toThrow(
      'devflow.toml: cache.root = "../x"',
    );
    // DWF_CACHE_ROOT may be outside the project, but not $HOME, /, or the project.
    const shared = join(tmp(), "shared");
    expect(resolveCacheRoot(project, {}, { HOME: home, DWF_CACHE_ROOT: shared })).toBe(shared);
    const realHome = tmp();
    expect(() => resolveCacheRoot(project, {}, { HOME: realHome, DWF_CACHE_ROOT: realHome })).toThrow("home directory");
    expect(() => resolveCacheRoot(project, {}, { HOME: home, DWF_CACHE_ROOT: "/" })).toThrow("filesystem root");
    expect(() => resolveCacheRoot(project, {}, { HOME: home, DWF_CACHE_ROOT: project })).toThrow("project root itself");
  });

  test("a symlink inside the project that leads out is refused for the default and [cache] root", () => {
    const project = tmp();
    const elsewhere = tmp();
    mkdirSync(join(project, ".cache"));
    symlinkSync(elsewhere, join(project, ".cache/devflow"));
    expect(() => resolveCacheRoot(project, {}, { HOME: home })).toThrow("through a symlink");
    symlinkSync(elsewhere, join(project, "c"));
    expect(() => resolveCacheRoot(project, { cache: { root: "c/sub" } }, { HOME: home })).toThrow("through a symlink");
  });
});

describe("ensureCacheRoot", () => {
  test("an earlier dwf's root is adopted when it holds only folders of stacks the registry names (every builtin, active or not)", async () => {
    const root = tmp();
    writeFileSync(
      join(root, "CACHEDIR.TAG"),
      "Signature: 8a477f597d28d172789f06886806bc55\n# This file is a cache directory tag created by dwf (Devflow).\n",
    );
    mkdirSync(join(root, "tasks"));
    mkdirSync(join(root, "go"));
    // Without the stacks' names handed in, a stack folder is not known to be dwf's.
    expect(() => ensureCacheRoot(root)).toThrow("entries dwf never makes ('go/')");
    // A Makefile project: go is not active, but the builtins the CLI hands in include it.
    const project = tmp();
    writeFileSync(join(project, "Makefile"), "test-unit:\n\ttrue\n");
    const { registry } = await loadProject({ cwd: project, extensions: extensionSource });
    expect(registry.stacks.map((s) => s.name)).toEqual(["custom"]);
    ensureCacheRoot(root, registry.cacheGroups);
    expect(inspectCacheRoot(root).state).toBe("ours");
    expect(readdirSync(root).sort()).toEqual([".gitignore", "CACHEDIR.TAG", "go", "tasks"]);
  });

  test("creates a tagged root with no temp folder left; tags an empty folder; refuses a full one", () => {
    const parent = tmp();
    const root = join(parent, "a/b");
    ensureCacheRoot(root);
    expect(readFileSync(join(root, "CACHEDIR.TAG"), "utf8")).toStartWith("Signature: 8a477f597d28d172789f06886806bc55");
    expect(readdirSync(join(parent, "a"))).toEqual(["b"]);
    expect(inspectCacheRoot(root).state).toBe("ours");
    const empty = tmp();
    ensureCacheRoot(empty);
    expect(inspectCacheRoot(empty).state).toBe("ours");
    const full = tmp();
    writeFileSync(join(full, "mine.txt"), "x");
    expect(() => ensureCacheRoot(full)).toThrow("already holds files dwf did not create ('mine.txt')");
    expect(readdirSync(full)).toEqual(["mine.txt"]);
  });

  test("concurrent creation by many processes: every one succeeds and the root holds one tag", async () => {
    const parent = tmp();
    const root = join(parent, "devflow");
    const script = `import { ensureCacheRoot } from ${JSON.stringify(join(import.meta.dir, "../../../src/core/cache-root.ts"))}; ensureCacheRoot(${JSON.stringify(root)});`;
    const procs = Array.from({ length: 8 }, () => Bun.spawn([process.execPath, "-e", script], { stdout: "ignore", stderr: "pipe" }));
    const codes = await Promise.all(procs.map((p) => p.exited));
    expect(codes).toEqual(Array(8).fill(0));
    expect(readdirSync(parent)).toEqual(["devflow"]);
    expect(readdirSync(root).sort()).toEqual([".gitignore", "CACHEDIR.TAG"]);
  });
});

describe("badContainerPath", () => {
  test("accepts tool cache folders; refuses options, /, the workspace, system folders, control characters and unnormalised paths", () => {
    for (const ok of ["/home/dwf/.cache/pip", "/home/dwf/.cargo/registry", "/usr/local/share/x", "/opt/cache"])
      expect(badContainerPath(ok)).toBeUndefined();
    for (const bad of [
      "",
      "rel",
      "/",
      "/c:ro,z",
      "/a,b",
      "/workspace",
      "/workspace/src",
      "/etc",
      "/usr",
      "/home",
      "/home/dwf",
      "/proc/1",
      "/dev/shm",
      "/a/../b",
      "/a//b",
      "/a/",
      "/a\nb",
      "/a\tb",
    ]) {
      expect({ bad, why: typeof badContainerPath(bad) }).toEqual({ bad, why: "string" });
    }
  });
});
