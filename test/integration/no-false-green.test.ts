// The task cache never turns a failing tree green, and a run that checked nothing never passes:
// edits during a task, submodules, inherited variables, forged memos and planted symlinks, broken
// extensions and empty profiles — each through the compiled binary on a real fixture.
import { describe, expect, setDefaultTimeout, test } from "bun:test";
import {
  existsSync,
  lstatSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { cleanEnv, dwfBinary, fixture, GIT_IDENTITY, runDwf } from "../support/dwf.ts";

setDefaultTimeout(60_000);

const CUSTOM = `[project]\nstack = ["custom"]\n\n[targets]\npr = ["test:unit"]\n`;

function scratch(): string {
  const d = mkdtempSync(join(tmpdir(), "dwf-green-"));
  process.on("exit", () => rmSync(d, { recursive: true, force: true }));
  return d;
}

/** Task result entries under the project's default cache root. */
function entries(dir: string): string[] {
  const tasks = join(dir, ".cache/devflow/tasks");
  if (!existsSync(tasks)) return [];
  return readdirSync(tasks)
    .filter((d) => /^[0-9a-f]{2}$/.test(d))
    .flatMap((d) =>
      readdirSync(join(tasks, d))
        .filter((f) => f.endsWith(".json"))
        .map((f) => join(tasks, d, f)),
    );
}

const git = (cwd: string, ...args: string[]) => {
  const r = Bun.spawnSync(["git", "-c", "protocol.file.allow=always", ...args], {
    cwd,
    env: { ...process.env, ...GIT_IDENTITY },
    stdout: "pipe",
    stderr: "pipe",
  });
  if (r.exitCode !== 0) throw new Error(`git ${args.join(" ")}: ${r.stderr.toString()}`);
};

describe("a result is stored only for the tree it ran on", () => {
  test("a file fixed while its task runs, then reverted, is not a cached pass", async () => {
    const out = scratch();
    const mark = join(out, "started");
    const go = join(out, "go");
    const dir = fixture({
      "devflow.toml": CUSTOM,
      "a.txt": "bad\n",
      // Reads a.txt only once the test has edited it.
      Makefile: `test-unit:\n\t@touch "$$MARK"; while [ ! -f "$$GO" ]; do sleep 0.05; done; grep -q ok a.txt\n`,
    });
    const env = { MARK: mark, GO: go };
    const proc = Bun.spawn([dwfBinary(), "verify"], { cwd: dir, env: cleanEnv(env), stdout: "pipe", stderr: "pipe" });
    while (!existsSync(mark)) await Bun.sleep(20);
    writeFileSync(join(dir, "a.txt"), "ok\n");
    writeFileSync(go, "");
    expect(await proc.exited).toBe(0);
    expect(entries(dir)).toEqual([]);

    writeFileSync(join(dir, "a.txt"), "bad\n");
    const reverted = await runDwf(["verify"], { cwd: dir, env });
    expect(reverted.code).toBe(1);
    expect(reverted.all).not.toContain("cached");

    // The cache itself works: an unchanged passing tree is stored, then replayed.
    writeFileSync(join(dir, "a.txt"), "ok\n");
    expect((await runDwf(["verify"], { cwd: dir, env })).code).toBe(0);
    const again = await runDwf(["verify"], { cwd: dir, env });
    expect(again.code).toBe(0);
    expect(again.stdout).toMatch(/test:unit\s+custom\s+cached/);
  });

  test("submodule commits and uncommitted submodule changes are part of the key", async () => {
    const sub = fixture({ "x.txt": "ok\n" }, { git: true });
    const dir = fixture({ "devflow.toml": CUSTOM, Makefile: "test-unit:\n\t@grep -q ok sub/x.txt && cat sub/x.txt\n" }, { git: true });
    git(dir, "submodule", "add", "-q", sub, "sub");
    git(dir, "commit", "-q", "-m", "add sub");
    const verify = () => runDwf(["verify", "--verbose"], { cwd: dir });
    expect((await verify()).code).toBe(0);
    expect((await verify()).stdout).toMatch(/test:unit\s+custom\s+cached/);

    // Dirty submodule tree: must run again (and fail).
    writeFileSync(join(dir, "sub/x.txt"), "bad\n");
    const dirty = await verify();
    expect(dirty.code).toBe(1);
    // Back as it was: the stored pass is valid again.
    writeFileSync(join(dir, "sub/x.txt"), "ok\n");
    expect((await verify()).stdout).toMatch(/test:unit\s+custom\s+cached/);

    // A new commit checked out in the submodule: runs again.
    writeFileSync(join(dir, "sub/x.txt"), "ok, version 2\n");
    git(join(dir, "sub"), "commit", "-q", "-am", "v2");
    const moved = await verify();
    expect(moved.code).toBe(0);
    expect(moved.stdout).toMatch(/test:unit\s+custom\s+passed/);
    expect(moved.all).toContain("ok, version 2");
  });

  test("inherited variables are hashed unless excluded by exact name, and excluded ones are not passed", async () => {
    const dir = fixture({
      "devflow.toml": CUSTOM,
      Makefile:
        'test-unit:\n\t@echo "ref=$$GITHUB_REF hist=$$HISTOGRAM_MODE lesson=$$LESSON wt=$$WT_PROFILE shlvl=[$${SHLVL-unset}] sock=[$${SSH_AUTH_SOCK-unset}]"\n',
    });
    const base = {
      GITHUB_REF: "refs/heads/a",
      HISTOGRAM_MODE: "x",
      LESSON: "1",
      WT_PROFILE: "p",
      SHLVL: "3",
      SSH_AUTH_SOCK: "/tmp/agent.1",
    };
    const run = (env: Record<string, string>) => runDwf(["verify", "--verbose"], { cwd: dir, env: { ...base, ...env } });
    const first = await run({});
    expect(first.code).toBe(0);
    expect(first.all).toContain("ref=refs/heads/a hist=x lesson=1 wt=p shlvl=[unset] sock=[unset]");
    for (const [name, value] of [
      ["GITHUB_REF", "refs/heads/b"],
      ["HISTOGRAM_MODE", "y"],
      ["LESSON", "2"],
      ["WT_PROFILE", "q"],
    ] as const) {
      const r = await run({ [name]: value });
      expect(r.stdout).toMatch(/test:unit\s+custom\s+passed/);
      expect(r.all).toContain(`=${value} `);
    }
    // Excluded names do not defeat the cache: the task never saw them.
    const other = await run({ SHLVL: "7", SSH_AUTH_SOCK: "/tmp/agent.2" });
    expect(other.stdout).toMatch(/test:unit\s+custom\s+cached/);
  });

  test("a forged config memo is ignored: devflow.toml decides what runs", async () => {
    const home = scratch();
    const dir = fixture({ "devflow.toml": CUSTOM, Makefile: "test-unit:\n\t@echo failing; exit 1\nlint-static:\n\t@true\n" });
    const env = { HOME: home, XDG_STATE_HOME: undefined };
    // The first run creates the cache folder; the memo is kept from the second on.
    for (let i = 0; i < 2; i++) expect((await runDwf(["verify"], { cwd: dir, env })).code).toBe(1);
    const statDir = join(dir, ".cache/devflow/tasks/stat");
    const memoName = readdirSync(statDir).find((f) => f.endsWith("-config.json"))!;
    expect(memoName).toBeDefined();
    const memoPath = join(statDir, memoName);
    const memo = JSON.parse(readFileSync(memoPath, "utf8"));
    expect(memo.version).toBe(2);
    // The signing key lives outside the project, readable by its owner only.
    expect(statSync(join(home, ".local/state/dwf/memo-key")).mode & 0o777).toBe(0o600);

    // What a task that can write the cache folder might write: another profile, an old-format memo.
    const forged = JSON.stringify({ targets: { pr: ["lint:static"] }, project: { stack: ["custom"] } });
    for (const text of [
      JSON.stringify({ ...memo, config: forged }),
      JSON.stringify({ version: 1, key: "0".repeat(64), config: JSON.parse(forged) }),
    ]) {
      writeFileSync(memoPath, text);
      const r = await runDwf(["verify"], { cwd: dir, env });
      expect(r.code).toBe(1);
      expect(r.all).toContain("failing");
    }
  });

  test("a symlink planted in place of a task entry is neither trusted nor touched", async () => {
    const out = scratch();
    const dir = fixture({ "devflow.toml": CUSTOM, Makefile: "test-unit:\n\t@echo ran for real\n" });
    expect((await runDwf(["verify"], { cwd: dir })).code).toBe(0);
    const [entry] = entries(dir);
    expect(entry).toBeDefined();
    const target = join(out, "elsewhere.json");
    writeFileSync(target, readFileSync(entry!, "utf8").replace("ran for real", "forged output"));
    utimesSync(target, new Date("2001-01-01"), new Date("2001-01-01"));
    rmSync(entry!);
    symlinkSync(target, entry!);
    const r = await runDwf(["verify", "--verbose"], { cwd: dir });
    expect(r.code).toBe(0);
    expect(r.all).toContain("ran for real");
    expect(r.all).not.toContain("forged output");
    expect(statSync(target).mtime.getUTCFullYear()).toBe(2001);
    expect(lstatSync(entry!).isFile()).toBe(true);
  });

  test("a stat-cache temp file left by kill -9 is removed by a later write; a fresh one is left to its writer", async () => {
    const dir = fixture({ "devflow.toml": CUSTOM, Makefile: "test-unit:\n\t@true\n", "a.txt": "1\n" });
    expect((await runDwf(["verify"], { cwd: dir })).code).toBe(0);
    const statDir = join(dir, ".cache/devflow/tasks/stat");
    const stale = join(statDir, ".0123.json.dwf-0123456789ab.tmp");
    const fresh = join(statDir, ".0123.json.dwf-ba9876543210.tmp");
    writeFileSync(stale, "{ half");
    writeFileSync(fresh, "{ half");
    const hourAgo = new Date(Date.now() - 3_600_000);
    utimesSync(stale, hourAgo, hourAgo);
    writeFileSync(join(dir, "a.txt"), "2\n");
    expect((await runDwf(["verify"], { cwd: dir })).code).toBe(0);
    expect(existsSync(stale)).toBe(false);
    expect(existsSync(fresh)).toBe(true);
  });
});

describe("nothing checked is not a pass", () => {
  test("a configured profile in which every task was skipped exits 1 with the reason", async () => {
    const dir = fixture({
      "devflow.toml": `[project]\nstack = ["custom"]\n\n[targets]\npr = ["lint:static"]\n`,
      Makefile: "test-unit:\n\t@true\n",
    });
    const r = await runDwf(["verify"], { cwd: dir });
    expect(r.code).toBe(1);
    expect(r.all).toContain("profile 'pr' in");
    expect(r.all).toContain("ran nothing: all 1 of its tasks were skipped (lint:static@custom: no target");
    const j = await runDwf(["verify", "--json"], { cwd: dir });
    expect(j.code).toBe(1);
    const doc = JSON.parse(j.stdout);
    expect(doc.ok).toBe(false);
    expect(doc.exitCode).toBe(1);
    expect(doc.reason).toContain("ran nothing");
    // A single command asked for by name is not a profile: a skip stays a skip.
    expect((await runDwf(["lint:static"], { cwd: dir })).code).toBe(0);
  });

  const ext = (buildAction: string, discover = '["test:unit"]') =>
    fixture({
      "devflow.toml": `[targets]\npr = ["test:unit"]\n\n[extensions.acme]\nsource = "path"\npath = "ext"\nrequired = true\n`,
      ext: `#!/bin/sh\ncase "$1" in --discover) echo '${discover}';; --build-action) cat >/dev/null; ${buildAction};; *) exit 1;; esac\n`,
    });

  test("an extension that crashes in --build-action is an error, not a skip", async () => {
    for (const [action, text] of [
      ["sh -c 'kill -SEGV $$'", "crashed (exit 139: something it ran was killed by SIGSEGV)"],
      ["kill -KILL $$", "crashed (killed by SIGKILL)"],
    ] as const) {
      const r = await runDwf(["verify"], { cwd: ext(action, '["test"]') });
      expect(r.code).toBe(2);
      expect(r.stderr).toContain("extension 'acme'");
      expect(r.stderr).toContain(text);
      expect(r.all).not.toContain("skipped");
    }
  });

  test("an extension that declines a command its --discover lists by name is an error", async () => {
    const r = await runDwf(["verify"], { cwd: ext("echo 'nope' >&2; exit 3") });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("exited with code 3, but its --discover lists test:unit by name");
    // Under a bare primary, a decline is part of the protocol: skipped, as before.
    const bare = await runDwf(["test:unit"], { cwd: ext("echo 'nope' >&2; exit 3", '["test"]') });
    expect(bare.code).toBe(0);
    expect(bare.all).toContain("acme declined test:unit (exit 3): nope");
  });
});
