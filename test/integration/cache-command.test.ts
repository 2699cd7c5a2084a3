// `dwf cache info` and `dwf cache prune` with the compiled binary: aged entries (utimes),
// --dry-run, refusals, the prune:cache alias, and real podman images labelled for a project.
import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fixture, runDwf, which } from "../support/dwf.ts";
import { BASE_IMAGE, ensureBaseImage } from "../support/podman.ts";

const DAY = 86_400_000;

function ageTree(path: string, days: number): void {
  const t = new Date(Date.now() - days * DAY);
  const visit = (p: string) => {
    for (const n of readdirSync(p, { withFileTypes: true })) {
      if (n.isDirectory()) visit(join(p, n.name));
      else if (!n.isSymbolicLink()) utimesSync(join(p, n.name), t, t);
    }
    utimesSync(p, t, t);
  };
  visit(path);
}

function project(name = "cachetest"): string {
  return fixture(
    {
      Makefile: "lint-static:\n\t@true\ntest-unit:\n\t@true\n",
      "devflow.toml": `[project]\nname = "${name}"\n[targets]\npr = ["lint:static", "test:unit"]\n`,
    },
    { git: true },
  );
}

function taskEntries(cacheRoot: string): string[] {
  const dir = join(cacheRoot, "tasks");
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true })
    .map(String)
    .filter((p) => p.endsWith(".json") && !p.startsWith("stat"));
}

describe("dwf cache prune", () => {
  test("removes what was not used within --older-than, keeps fresh and current; --dry-run removes nothing", async () => {
    const cwd = project();
    const root = join(cwd, ".cache/devflow");
    expect((await runDwf(["verify"], { cwd })).code).toBe(0);
    const entries = taskEntries(root);
    expect(entries).toHaveLength(2);
    // One stale task entry, one stale foreign extension dir, one fresh one, and the active stack's own dir aged.
    utimesSync(join(root, "tasks", entries[0]!), new Date(Date.now() - 30 * DAY), new Date(Date.now() - 30 * DAY));
    for (const d of ["oldext/registry", "freshext/registry", "custom/state"]) mkdirSync(join(root, d), { recursive: true });
    writeFileSync(join(root, "oldext/registry/blob"), "x".repeat(5000));
    writeFileSync(join(root, "freshext/registry/blob"), "y");
    writeFileSync(join(root, "custom/state/blob"), "z");
    ageTree(join(root, "oldext"), 30);
    ageTree(join(root, "custom"), 30);

    const info = await runDwf(["cache", "info", "--json"], { cwd });
    const doc = JSON.parse(info.stdout) as { tasks: { entries: number }; directories: { name: string; current: boolean }[] };
    expect(doc.tasks.entries).toBe(2);
    expect(doc.directories.find((d) => d.name === "custom")?.current).toBe(true);

    const dry = await runDwf(["cache", "prune", "--dry-run"], { cwd });
    expect(dry.code).toBe(0);
    expect(dry.stdout).toContain("would remove oldext");
    expect(dry.stdout).toContain("would remove 1 task result");
    expect(existsSync(join(root, "oldext"))).toBe(true);
    expect(taskEntries(root)).toHaveLength(2);

    const real = await runDwf(["cache", "prune", "--older-than", "14d"], { cwd });
    expect(real.code).toBe(0);
    expect(real.stdout).toContain("removed oldext");
    expect(real.stdout).toMatch(/Reclaimed \d+(\.\d)? KiB/);
    expect(existsSync(join(root, "oldext"))).toBe(false);
    expect(existsSync(join(root, "freshext/registry/blob"))).toBe(true);
    expect(existsSync(join(root, "custom/state/blob"))).toBe(true);
    expect(taskEntries(root)).toEqual([entries[1]!]);
    expect(existsSync(join(root, "CACHEDIR.TAG"))).toBe(true);

    // --all lifts the protection of the current stack's cache and, without an age, clears everything.
    await runDwf(["prune:cache", "--local", "--all"], { cwd });
    expect(readdirSync(root).filter((n) => n !== "CACHEDIR.TAG" && n !== ".gitignore" && n !== "tasks")).toEqual([]);
    expect(taskEntries(root)).toEqual([]);
  });

  test("a shared cache root: only stale things go, another project's fresh cache stays", async () => {
    const shared = mkdtempSync(join(tmpdir(), "dwf-shared-"));
    try {
      const a = project("proj-a");
      const b = project("proj-b");
      const env = { DWF_CACHE_ROOT: shared };
      await runDwf(["verify"], { cwd: a, env });
      const ofA = taskEntries(shared);
      await runDwf(["verify"], { cwd: b, env });
      const ofB = taskEntries(shared).filter((e) => !ofA.includes(e));
      expect(ofA).toHaveLength(2);
      expect(ofB).toHaveLength(2);
      // b's results were last used a month ago; a's are fresh.
      const old = new Date(Date.now() - 30 * DAY);
      for (const e of ofB) utimesSync(join(shared, "tasks", e), old, old);
      const r = await runDwf(["cache", "prune"], { cwd: a, env });
      expect(r.code).toBe(0);
      expect(taskEntries(shared).sort()).toEqual([...ofA].sort());
    } finally {
      rmSync(shared, { recursive: true, force: true });
    }
  });

  test("never follows a symlink out of the cache root", async () => {
    const cwd = project();
    const root = join(cwd, ".cache/devflow");
    await runDwf(["verify"], { cwd });
    const outside = mkdtempSync(join(tmpdir(), "dwf-outside-"));
    try {
      writeFileSync(join(outside, "precious"), "keep");
      mkdirSync(join(root, "linky"));
      symlinkSync(outside, join(root, "linky/elsewhere"));
      ageTree(join(root, "linky"), 40);
      const r = await runDwf(["cache", "prune", "--all"], { cwd });
      expect(r.code).toBe(0);
      expect(existsSync(join(root, "linky"))).toBe(false);
      expect(existsSync(join(outside, "precious"))).toBe(true);
    } finally {
      rmSync(outside, { recursive: true, force: true });
    }
  });

  test("refuses an untagged root, $HOME and /", async () => {
    const cwd = project();
    const untagged = mkdtempSync(join(tmpdir(), "dwf-untagged-"));
    const home = mkdtempSync(join(tmpdir(), "dwf-home-"));
    try {
      writeFileSync(join(untagged, "keep"), "x");
      const a = await runDwf(["cache", "prune", "--all"], { cwd, env: { DWF_CACHE_ROOT: untagged } });
      expect(a.code).toBe(2);
      expect(a.stderr).toContain("already holds files dwf did not create");
      expect(existsSync(join(untagged, "keep"))).toBe(true);
      writeFileSync(join(home, "CACHEDIR.TAG"), "Signature: 8a477f597d28d172789f06886806bc55\n");
      const b = await runDwf(["cache", "prune", "--all"], { cwd, env: { DWF_CACHE_ROOT: home, HOME: home } });
      expect(b.code).toBe(2);
      expect(b.stderr).toContain("home directory");
      const c = await runDwf(["cache", "prune", "--all", "--dry-run"], { cwd, env: { DWF_CACHE_ROOT: "/" } });
      expect(c.code).toBe(2);
      expect(c.stderr).toContain("filesystem root");
    } finally {
      rmSync(untagged, { recursive: true, force: true });
      rmSync(home, { recursive: true, force: true });
    }
  });

  test("rejects a bad --older-than with exit 2", async () => {
    const r = await runDwf(["cache", "prune", "--older-than", "soon"], { cwd: project() });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("--older-than");
  });
});

const podman = which("podman");
const built: string[] = [];
afterAll(() => {
  if (podman && built.length) Bun.spawnSync([podman, "rmi", "--force", ...built], { stdout: "ignore", stderr: "ignore" });
});

describe("dwf cache with podman images", () => {
  test("info marks the current image; prune --images removes old fingerprints and keeps the current", async () => {
    ensureBaseImage();
    const name = `dwf-prune-${process.pid}-${Date.now().toString(36)}`;
    const cwd = project(name);
    const fp = (JSON.parse((await runDwf(["cache", "info", "--json"], { cwd })).stdout) as { fingerprint: string }).fingerprint;
    expect(fp).toMatch(/^[0-9a-f]{64}$/);
    const ctx = mkdtempSync(join(tmpdir(), "dwf-img-"));
    const old = "0".repeat(64);
    for (const f of [fp, old]) {
      writeFileSync(join(ctx, "Dockerfile"), `FROM ${BASE_IMAGE}\nLABEL variant=${f}\n`);
      const ref = `localhost/${name}:${f}`;
      const b = Bun.spawnSync([
        podman!,
        "build",
        "-q",
        "-t",
        ref,
        "--label",
        `dev.devflow.project=${name}`,
        "--label",
        `dev.devflow.fingerprint=${f}`,
        ctx,
      ]);
      expect(b.exitCode).toBe(0);
      built.push(ref);
    }
    rmSync(ctx, { recursive: true, force: true });

    const info = await runDwf(["cache", "info"], { cwd });
    expect(info.stdout).toContain(`* localhost/${name}:${fp}`);
    const dry = await runDwf(["cache", "prune", "--images", "--dry-run"], { cwd });
    expect(dry.stdout).toContain(`would remove image localhost/${name}:${old}`);
    expect(Bun.spawnSync([podman!, "image", "exists", `localhost/${name}:${old}`]).exitCode).toBe(0);

    const r = await runDwf(["cache", "prune", "--images"], { cwd });
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`removed image localhost/${name}:${old}`);
    expect(Bun.spawnSync([podman!, "image", "exists", `localhost/${name}:${old}`]).exitCode).not.toBe(0);
    expect(Bun.spawnSync([podman!, "image", "exists", `localhost/${name}:${fp}`]).exitCode).toBe(0);
  });
});
