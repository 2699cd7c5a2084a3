// The remembered git listing in hashTree: reused while nothing it depends on changed, listed
// again (and right) after every kind of change that can add, remove or un-ignore a file.
import { afterEach, describe, expect, test } from "bun:test";
import { appendFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, unlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { hashTree } from "../../../src/cache/tree-hash.ts";

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function repo(files: Record<string, string>, emptyDirs: string[] = []): string {
  const root = mkdtempSync(join(tmpdir(), "dwf-list-"));
  dirs.push(root);
  for (const [rel, content] of Object.entries(files)) {
    mkdirSync(dirname(join(root, rel)), { recursive: true });
    writeFileSync(join(root, rel), content);
  }
  for (const d of emptyDirs) mkdirSync(join(root, d), { recursive: true });
  // dwf creates its cache root before hashing; making it here keeps it from changing the top directory later.
  mkdirSync(join(root, ".cache"));
  git(root, "init", "-q");
  return root;
}

function git(cwd: string, ...args: string[]): void {
  const r = Bun.spawnSync(["git", "-c", "user.name=t", "-c", "user.email=t@example.com", ...args], {
    cwd,
    stdout: "ignore",
    stderr: "pipe",
  });
  if (r.exitCode !== 0) throw new Error(`git ${args.join(" ")}: ${r.stderr.toString()}`);
}

/** Past the file system's timestamp granularity, so the next change moves an mtime. */
const tick = () => Bun.sleep(30);

/** racyMs 0: trust stat data written before the call (the tests wait a tick instead of 2 s). */
const cached = (root: string, sub = "") =>
  hashTree(join(root, sub), { cacheRoot: join(root, ".cache"), exclude: [join(root, ".cache")], racyMs: 0 });
/** What git says right now, with no remembered listing. */
const fresh = async (root: string, sub = "") => [...(await hashTree(join(root, sub), { exclude: [join(root, ".cache")] })).files.keys()];

const FILES = {
  "a.txt": "a",
  "src/b.txt": "b",
  "logs/x.log": "l",
  ".gitignore": "*.log\nout/\n",
  "out/o.txt": "o",
  "sub/.gitignore": "skip.txt\n",
};

describe("remembered git listing", () => {
  test("is reused while nothing changed, and not trusted right after a change", async () => {
    const root = repo(FILES);
    // Default racy window: everything was just written, so git is asked every time.
    expect((await hashTree(root, { cacheRoot: join(root, ".cache"), exclude: [join(root, ".cache")] })).stats.listReused).toBe(false);
    expect((await hashTree(root, { cacheRoot: join(root, ".cache"), exclude: [join(root, ".cache")] })).stats.listReused).toBe(false);
    await tick();
    expect((await cached(root)).stats.listReused).toBe(false);
    const again = await cached(root);
    expect(again.stats.listReused).toBe(true);
    expect([...again.files.keys()]).toEqual(await fresh(root));
  });

  const changes: [string, (root: string) => void][] = [
    ["a file added at the top", (r) => writeFileSync(join(r, "new.txt"), "n")],
    ["a file added in a sub-directory", (r) => writeFileSync(join(r, "src/new.txt"), "n")],
    ["a file added in an empty directory", (r) => writeFileSync(join(r, "empty/new.txt"), "n")],
    ["a file added deep in an empty directory", (r) => writeFileSync(join(r, "empty/deeper/new.txt"), "n")],
    ["a file added where only ignored files were", (r) => writeFileSync(join(r, "logs/readme.txt"), "n")],
    [
      "a new directory with a file",
      (r) => (mkdirSync(join(r, "fresh/x"), { recursive: true }), writeFileSync(join(r, "fresh/x/n.txt"), "n")),
    ],
    ["an untracked file removed", (r) => unlinkSync(join(r, "src/b.txt"))],
    ["a file renamed", (r) => Bun.spawnSync(["mv", join(r, "src/b.txt"), join(r, "src/c.txt")])],
    ["the top .gitignore edited", (r) => appendFileSync(join(r, ".gitignore"), "a.txt\n")],
    ["a nested .gitignore edited", (r) => writeFileSync(join(r, "sub/.gitignore"), "")],
    ["a nested .gitignore created", (r) => writeFileSync(join(r, "src/.gitignore"), "b.txt\n")],
    ["a .gitignore removed", (r) => unlinkSync(join(r, ".gitignore"))],
    ["info/exclude edited", (r) => appendFileSync(join(r, ".git/info/exclude"), "\na.txt\n")],
    ["an ignored file force-added to the index", (r) => git(r, "add", "-f", "out/o.txt")],
  ];
  for (const [what, change] of changes) {
    test(`lists again after ${what}`, async () => {
      const root = repo({ ...FILES, "sub/skip.txt": "s", "sub/keep.txt": "k" }, ["empty/deeper"]);
      await tick();
      await cached(root);
      expect((await cached(root)).stats.listReused).toBe(true);
      await tick();
      change(root);
      const after = await cached(root);
      expect(after.stats.listReused).toBe(false);
      expect([...after.files.keys()]).toEqual(await fresh(root));
    });
  }

  test("a global ignore file created under XDG_CONFIG_HOME is seen; its path is not written down", async () => {
    const saved = process.env.XDG_CONFIG_HOME;
    const xdg = mkdtempSync(join(tmpdir(), "dwf-xdg-MARKER-"));
    dirs.push(xdg);
    process.env.XDG_CONFIG_HOME = xdg;
    try {
      const root = repo(FILES);
      await tick();
      await cached(root);
      expect((await cached(root)).stats.listReused).toBe(true);
      const memo = readdirSync(join(root, ".cache/tasks/stat"))
        .map((f) => readFileSync(join(root, ".cache/tasks/stat", f), "utf8"))
        .join("");
      expect(memo).toContain('"listing"');
      expect(memo).not.toContain("MARKER");
      await tick();
      mkdirSync(join(xdg, "git"));
      writeFileSync(join(xdg, "git/ignore"), "a.txt\n");
      const after = await cached(root);
      expect(after.stats.listReused).toBe(false);
      expect([...after.files.keys()]).not.toContain("a.txt");
    } finally {
      if (saved === undefined) delete process.env.XDG_CONFIG_HOME;
      else process.env.XDG_CONFIG_HOME = saved;
    }
  });

  test("a project inside a larger repository sees its parents' .gitignore changes", async () => {
    const root = repo({ ".gitignore": "", "proj/a.txt": "a", "proj/b.txt": "b", "other/c.txt": "c" });
    await tick();
    await cached(root, "proj");
    expect((await cached(root, "proj")).stats.listReused).toBe(true);
    // Outside the project: no effect on its listing.
    writeFileSync(join(root, "other/d.txt"), "d");
    expect((await cached(root, "proj")).stats.listReused).toBe(true);
    await tick();
    writeFileSync(join(root, ".gitignore"), "b.txt\n");
    const after = await cached(root, "proj");
    expect(after.stats.listReused).toBe(false);
    expect([...after.files.keys()]).toEqual(["a.txt"]);
  });

  test("git pointed elsewhere by GIT_DIR is always asked", async () => {
    const root = repo({ "a.txt": "a" });
    await tick();
    await cached(root);
    expect((await cached(root)).stats.listReused).toBe(true);
    process.env.GIT_DIR = join(root, ".git");
    try {
      expect((await cached(root)).stats.listReused).toBe(false);
    } finally {
      delete process.env.GIT_DIR;
    }
  });
});
