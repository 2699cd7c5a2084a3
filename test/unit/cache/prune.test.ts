// Prune planning over plain data, the image list parsers, and the safety checks and symlink
// handling of the apply step against real temp directories.
import { afterEach, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  applyPrune,
  checkPrunableRoot,
  parseAge,
  parseImagesJson,
  planImagePrune,
  planPrune,
  scanCacheRoot,
  TAG_SIGNATURE,
  type CacheItem,
} from "../../../src/cache/prune.ts";
import { UserError } from "../../../src/lib/errors.ts";
import { ensureCacheRoot } from "../../../src/core/cache-root.ts";

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), "dwf-prune-"));
  dirs.push(d);
  return d;
}
const DAY = 86_400_000;
const now = Date.UTC(2026, 10, 23);
const item = (rel: string, daysAgo: number, extra: Partial<CacheItem> = {}): CacheItem => ({
  rel,
  kind: "dir",
  group: rel.split("/")[0]!,
  bytes: 100,
  lastUsedMs: now - daysAgo * DAY,
  current: false,
  ...extra,
});

describe("parseAge", () => {
  test("units and errors", () => {
    expect(parseAge("14d")).toBe(14 * DAY);
    expect(parseAge("12h")).toBe(12 * 3_600_000);
    expect(parseAge("2w")).toBe(14 * DAY);
    expect(parseAge("0")).toBe(0);
    expect(() => parseAge("14")).toThrow(UserError);
    expect(() => parseAge("soon")).toThrow("--older-than");
  });
});

describe("planPrune", () => {
  const items = [
    item("old", 30),
    item("fresh", 1),
    item("rust", 30, { current: true }),
    item("tasks/ab/x.json", 20, { kind: "task", group: "tasks" }),
    item("huge", 90, { truncated: true }),
  ];
  test("removes what was not used within the boundary, keeps current and truncated", () => {
    const plan = planPrune(items, { now, olderThanMs: 14 * DAY, all: false });
    expect(plan.remove.map((i) => i.rel)).toEqual(["old", "tasks/ab/x.json"]);
    expect(plan.bytes).toBe(200);
  });
  test("--all also removes current items (and with no age, everything)", () => {
    expect(planPrune(items, { now, olderThanMs: 14 * DAY, all: true }).remove.map((i) => i.rel)).toEqual([
      "old",
      "rust",
      "tasks/ab/x.json",
    ]);
    expect(planPrune(items, { now, olderThanMs: 0, all: true }).remove).toHaveLength(items.length);
  });
});

describe("images", () => {
  const fp = (c: string) => c.repeat(64);
  test("podman's JSON array and docker's JSON lines", () => {
    const podman = JSON.stringify([
      { Id: "id1", Names: [`localhost/dwf-p:${fp("a")}`], Labels: { "dev.devflow.fingerprint": fp("a") }, Size: 2000, Created: 1700000000 },
    ]);
    expect(parseImagesJson(podman)).toEqual([
      {
        id: "id1",
        refs: [`localhost/dwf-p:${fp("a")}`],
        fingerprint: fp("a"),
        bytes: 2000,
        created: new Date(1700000000 * 1000).toISOString(),
      },
    ]);
    const docker = [JSON.stringify({ ID: "id2", Repository: "localhost/dwf-p", Tag: fp("b"), Size: "1.5MB", CreatedAt: "x" }), ""].join(
      "\n",
    );
    expect(parseImagesJson(docker)[0]).toMatchObject({ id: "id2", fingerprint: fp("b"), bytes: 1_500_000 });
    expect(parseImagesJson("")).toEqual([]);
  });
  test("old fingerprints go, the current stays unless --all", () => {
    const imgs = parseImagesJson(
      JSON.stringify([
        { Id: "1", Labels: { "dev.devflow.fingerprint": fp("a") } },
        { Id: "2", Labels: { "dev.devflow.fingerprint": fp("b") } },
      ]),
    );
    expect(planImagePrune(imgs, fp("a"), false).remove.map((i) => i.id)).toEqual(["2"]);
    expect(planImagePrune(imgs, fp("a"), true).remove).toHaveLength(2);
  });
});

describe("checkPrunableRoot", () => {
  const tag = (d: string) => ensureCacheRoot(d);
  test("refuses /, $HOME, an untagged directory and one holding the project", () => {
    expect(() => checkPrunableRoot("/", {})).toThrow("filesystem root");
    const home = tmp();
    tag(home);
    expect(() => checkPrunableRoot(home, { home })).toThrow("home directory");
    const untagged = tmp();
    writeFileSync(join(untagged, "notes.txt"), "mine");
    expect(() => checkPrunableRoot(untagged, {})).toThrow("did not create");
    const otherTool = tmp();
    writeFileSync(join(otherTool, "CACHEDIR.TAG"), `${TAG_SIGNATURE}\n# cargo's\n`);
    mkdirSync(join(otherTool, "debug"));
    expect(() => checkPrunableRoot(otherTool, {})).toThrow("did not create");
    // An empty folder has nothing to prune: no refusal, nothing listed.
    const empty = tmp();
    expect(checkPrunableRoot(empty, {})).toBe(empty);
    const holder = tmp();
    tag(holder);
    mkdirSync(join(holder, "proj"));
    expect(() => checkPrunableRoot(holder, { projectRoot: join(holder, "proj") })).toThrow("holds the project");
    expect(checkPrunableRoot(holder, { projectRoot: tmp() })).toBe(holder);
  });
});

describe("scan + apply", () => {
  test("symlinks inside the root are removed as links; their targets survive", () => {
    const root = tmp();
    const outside = tmp();
    writeFileSync(join(outside, "precious"), "keep me");
    mkdirSync(join(root, "ext/sub"), { recursive: true });
    writeFileSync(join(root, "ext/sub/f"), "x");
    symlinkSync(outside, join(root, "ext/sub/link"));
    symlinkSync(outside, join(root, "toplink"));
    const old = new Date(Date.now() - 30 * DAY);
    for (const p of ["ext/sub/f", "ext/sub", "ext"]) utimesSync(join(root, p), old, old);
    const items = scanCacheRoot(root, { currentGroups: new Set() });
    expect(items.find((i) => i.rel === "ext")?.bytes).toBe(1);
    const plan = planPrune(items, { now: Date.now(), olderThanMs: 0, all: true });
    const res = applyPrune(root, plan);
    expect(res.errors).toEqual([]);
    expect(existsSync(join(root, "ext"))).toBe(false);
    // Not a shape dwf makes at the top of its root: never listed, never removed, never followed.
    expect(items.some((i) => i.rel === "toplink")).toBe(false);
    expect(existsSync(join(root, "toplink"))).toBe(true);
    expect(existsSync(join(outside, "precious"))).toBe(true);
  });

  test("a planned path outside the root is refused", () => {
    const root = tmp();
    const outside = tmp();
    const res = applyPrune(root, { remove: [item(`../${outside.split("/").pop()}`, 100)], keep: [], bytes: 0 });
    expect(res.errors[0]).toContain("outside the cache root");
    expect(existsSync(outside)).toBe(true);
  });

  test("an entry whose name merely starts with '..' is inside the root and is pruned", () => {
    const root = tmp();
    mkdirSync(join(root, "..odd"));
    writeFileSync(join(root, "..odd/f"), "x");
    const res = applyPrune(root, { remove: [item("..odd", 1)], keep: [], bytes: 0 });
    expect(res.errors).toEqual([]);
    expect(existsSync(join(root, "..odd"))).toBe(false);
  });
});
