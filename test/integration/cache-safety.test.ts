// Attacks on the compiled binary around what dwf keeps on disk, each reproduced and shown to
// fail safely: a cache root pointed at user files (issue 14, item 1), secrets in the files dwf
// writes and on the engine's command line (2), FIFOs and devices in place of dwf's own files
// (3), and a container or an extension steering mounts, working directories and paths (4).
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import {
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { cleanEnv, dwfBinary, fixture, GIT_IDENTITY, runDwf } from "../support/dwf.ts";
import {
  BASE_IMAGE,
  containersNamed,
  dockerApiUnusable,
  ensureBaseImage,
  removeContainers,
  removeImages,
  startDockerSocket,
} from "../support/podman.ts";
import { startDockerd } from "../support/dockerd.ts";
import { messageProblem } from "../stress/fuzz-gen.ts";

const temps: string[] = [];
afterAll(() => {
  for (const d of temps.splice(0)) rmSync(d, { recursive: true, force: true });
});
function tempDir(prefix: string): string {
  const d = mkdtempSync(join(tmpdir(), prefix));
  temps.push(d);
  return d;
}

const DAY = 86_400_000;

/** Every file and folder below dir with its content and mtime: what a user would miss if it changed. */
function snapshot(dir: string): string[] {
  const out: string[] = [];
  const visit = (d: string) => {
    for (const name of readdirSync(d).sort()) {
      const p = join(d, name);
      const st = lstatSync(p);
      if (name === ".git") continue;
      if (st.isDirectory()) {
        out.push(`${p}/`);
        visit(p);
      } else out.push(`${p} ${st.mtimeMs} ${st.isFile() ? readFileSync(p, "utf8") : "special"}`);
    }
  };
  visit(dir);
  return out;
}

/** Mark files as last used long ago, so prune would take them. */
function age(paths: string[], days = 30): void {
  const t = new Date(Date.now() - days * DAY);
  for (const p of paths) utimesSync(p, t, t);
}

function git(cwd: string, ...args: string[]): string {
  const r = Bun.spawnSync(["git", ...args], {
    cwd,
    stdout: "pipe",
    stderr: "pipe",
    env: { ...process.env, ...GIT_IDENTITY },
  });
  return r.stdout.toString();
}

/** A git project whose test:unit passes, with a tracked, old src/a.c. */
function project(toml = ""): string {
  const dir = fixture(
    {
      Makefile: "test-unit:\n\t@true\n",
      "src/a.c": "int main(void) { return 0; }\n",
      "devflow.toml": `[project]\nstack = ["custom"]\n${toml}`,
    },
    { git: true },
  );
  age([join(dir, "src/a.c")]);
  return dir;
}

describe("a cache root pointed at user files (item 1)", () => {
  const cases: {
    name: string;
    setup: (dir: string, victim: string) => { toml?: string; env?: Record<string, string>; victimDir: string };
    says: RegExp;
  }[] = [
    {
      name: '[cache] root = "../victim"',
      setup: (_d, v) => ({ toml: `[cache]\nroot = "../${v.split("/").pop()}"\n`, victimDir: v }),
      says: /cache\.root = "\.\.\/.*": resolves to .*, outside the project/,
    },
    {
      name: '[cache] root = "src"',
      setup: (d) => ({ toml: '[cache]\nroot = "src"\n', victimDir: join(d, "src") }),
      says: /cache\.root = "src": .* already holds files dwf did not create \('a\.c'\), some tracked by git/,
    },
    {
      name: '[cache] root = "."',
      setup: (d) => ({ toml: '[cache]\nroot = "."\n', victimDir: join(d, "src") }),
      says: /cache\.root = "\.": .* is the project root itself/,
    },
    {
      name: '[cache] root = "../../../etc"',
      setup: () => ({ toml: '[cache]\nroot = "../../../../../../../etc"\n', victimDir: "/etc" }),
      says: /resolves to \/etc, outside the project/,
    },
    {
      name: "a symlinked .cache/devflow",
      setup: (d, v) => {
        mkdirSync(join(d, ".cache"));
        symlinkSync(v, join(d, ".cache/devflow"));
        return { victimDir: v };
      },
      says: /the cache root \.cache\/devflow: leads outside the project through a symlink/,
    },
    {
      name: "DWF_CACHE_ROOT=$HOME",
      setup: (_d, v) => ({ env: { DWF_CACHE_ROOT: v, HOME: v }, victimDir: v }),
      says: /DWF_CACHE_ROOT=.*: .* is your home directory/,
    },
    {
      name: "DWF_CACHE_ROOT=~/Documents (a full folder)",
      setup: (_d, v) => ({ env: { DWF_CACHE_ROOT: v }, victimDir: v }),
      says: /DWF_CACHE_ROOT=.*: .* already holds files dwf did not create/,
    },
    {
      name: "DWF_CACHE_ROOT at the project",
      setup: (d) => ({ env: { DWF_CACHE_ROOT: d }, victimDir: join(d, "src") }),
      says: /DWF_CACHE_ROOT=.*: .* is the project root itself/,
    },
  ];

  for (const c of cases) {
    test(`${c.name}: run and prune --all exit 2 naming the setting; no file is tagged, hidden or deleted`, async () => {
      const dir = project();
      const victim = tempDir("dwf-victim-");
      mkdirSync(join(victim, "photos"));
      writeFileSync(join(victim, "notes.txt"), "mine\n");
      writeFileSync(join(victim, "photos/a.jpg"), "jpeg\n");
      age([join(victim, "notes.txt"), join(victim, "photos/a.jpg"), join(victim, "photos")]);
      const { toml, env, victimDir } = c.setup(dir, victim);
      if (toml) writeFileSync(join(dir, "devflow.toml"), `[project]\nstack = ["custom"]\n${toml}`);
      const before = victimDir === "/etc" ? [] : snapshot(victimDir);
      const status = git(dir, "status", "--porcelain", "--untracked-files=all");

      const run = await runDwf(["test:unit"], { cwd: dir, env });
      expect(run.code).toBe(2);
      expect(run.stderr).toMatch(c.says);
      expect(messageProblem(run.stderr)).toBeNull();
      for (const args of [["cache", "prune", "--all"], ["cache", "prune"], ["verify"]]) {
        const r = await runDwf(args, { cwd: dir, env });
        expect({ args, code: r.code }).toEqual({ args, code: 2 });
      }
      if (victimDir !== "/etc") {
        expect(snapshot(victimDir)).toEqual(before);
        expect(existsSync(join(victimDir, "CACHEDIR.TAG"))).toBe(false);
      }
      expect(readFileSync(join(dir, "src/a.c"), "utf8")).toContain("int main");
      expect(git(dir, "status", "--porcelain", "--untracked-files=all")).toBe(status);
    });
  }

  test("a folder an earlier dwf tagged by mistake is not trusted: its files survive run and prune", async () => {
    const dir = project();
    const victim = tempDir("dwf-legacy-");
    writeFileSync(
      join(victim, "CACHEDIR.TAG"),
      "Signature: 8a477f597d28d172789f06886806bc55\n# This file is a cache directory tag created by dwf (Devflow).\n",
    );
    writeFileSync(join(victim, ".gitignore"), "*\n");
    mkdirSync(join(victim, "photos"));
    writeFileSync(join(victim, "photos/a.jpg"), "jpeg\n");
    age([join(victim, "photos/a.jpg"), join(victim, "photos")]);
    const before = snapshot(victim);
    for (const args of [["test:unit"], ["cache", "prune", "--all"]]) {
      const r = await runDwf(args, { cwd: dir, env: { DWF_CACHE_ROOT: victim } });
      expect(r.code).toBe(2);
      expect(r.stderr).toContain("an earlier dwf's CACHEDIR.TAG but also holds entries dwf never makes ('photos/')");
    }
    expect(snapshot(victim)).toEqual(before);
  });

  test("the default root, a fresh DWF_CACHE_ROOT outside the project and an empty folder are created or tagged and used", async () => {
    const dir = project();
    const first = await runDwf(["test:unit"], { cwd: dir });
    expect(first.code).toBe(0);
    expect(readFileSync(join(dir, ".cache/devflow/CACHEDIR.TAG"), "utf8")).toStartWith("Signature: 8a477f597d28d172789f06886806bc55\n");
    expect(readFileSync(join(dir, ".cache/devflow/.gitignore"), "utf8")).toContain("*");
    const shared = join(tempDir("dwf-shared-"), "devflow");
    for (const root of [shared, tempDir("dwf-empty-")]) {
      const r = await runDwf(["test:unit"], { cwd: dir, env: { DWF_CACHE_ROOT: root } });
      expect(r.code).toBe(0);
      expect(existsSync(join(root, "CACHEDIR.TAG"))).toBe(true);
      expect(readdirSync(join(root, "tasks")).length).toBeGreaterThan(0);
    }
    // No temp folder left beside the created root.
    expect(readdirSync(dirname(shared))).toEqual(["devflow"]);
  });

  test("prune removes only entries of dwf's own shapes, also with --all", async () => {
    const dir = project();
    expect((await runDwf(["test:unit"], { cwd: dir })).code).toBe(0);
    const root = join(dir, ".cache/devflow");
    const shard = readdirSync(join(root, "tasks")).find((n) => /^[0-9a-f]{2}$/.test(n))!;
    const strangers = [
      join(root, "tasks/notes.txt"),
      join(root, `tasks/${shard}/readme.md`),
      join(root, "tasks/stat/keep.txt"),
      join(root, "tasks/Mixed"),
    ];
    for (const s of strangers.slice(0, 3)) writeFileSync(s, "not dwf's\n");
    mkdirSync(strangers[3]!);
    const entry = join(root, "tasks", shard, readdirSync(join(root, "tasks", shard)).find((n) => n.endsWith(".json"))!);
    age([...strangers, entry]);
    const r = await runDwf(["cache", "prune", "--all"], { cwd: dir });
    expect(r.code).toBe(0);
    expect(existsSync(entry)).toBe(false);
    for (const s of strangers) expect({ s, exists: existsSync(s) }).toEqual({ s, exists: true });
  });
});

describe("secrets on disk and on the engine's command line (item 2)", () => {
  test("GIT_* values, HOME and XDG_CONFIG_HOME are not written into the stat cache or any file dwf keeps; the listing memo keeps a hash", async () => {
    const dir = project();
    const home = tempDir("dwf-home-HOMEMARKER-");
    const secrets = {
      GIT_TOKEN: "ghp_gitTOKENvalue9x8",
      GIT_ASKPASS_PASSWORD: "askpass-PW-7q6w5e",
      GIT_CONFIG_COUNT: "1",
      GIT_CONFIG_KEY_0: "http.extraHeader",
      GIT_CONFIG_VALUE_0: "AUTHORIZATION: basic c2VjcmV0LXZhbHVl",
      XDG_CONFIG_HOME: join(home, "xdg-XDGMARKER"),
      HOME: home,
    };
    // The git listing is remembered only once the tree (and the new cache folder) has been still
    // for a moment (racy stat data); the last run reuses the memo.
    for (let i = 0; i < 3; i++) {
      await Bun.sleep(i < 2 ? 2200 : 0);
      expect((await runDwf(["test:unit"], { cwd: dir, env: secrets })).code).toBe(0);
    }
    const files = readdirSync(join(dir, ".cache/devflow"), { recursive: true, withFileTypes: true }).filter((d) => d.isFile());
    const stat = files.filter((f) => /^[0-9a-f]{24}\.json$/.test(f.name));
    expect(stat.length).toBe(1);
    // The listing memo is there (so the check below looks at a file that could hold the values).
    const memo = JSON.parse(readFileSync(join(stat[0]!.parentPath, stat[0]!.name), "utf8")) as { listing?: { env: string } };
    expect(memo.listing?.env).toMatch(/^[0-9a-f]{64}$/);
    for (const f of files) {
      const text = readFileSync(join(f.parentPath, f.name), "utf8");
      // Not even the paths derived from HOME and XDG_CONFIG_HOME (~/.gitconfig, <xdg>/git/ignore):
      // their stat data is kept by position and the paths are worked out again on reuse.
      for (const v of [
        "ghp_gitTOKENvalue9x8",
        "askpass-PW-7q6w5e",
        "c2VjcmV0LXZhbHVl",
        "AUTHORIZATION",
        "http.extraHeader",
        "XDGMARKER",
        "HOMEMARKER",
      ])
        expect({ file: f.name, has: text.includes(v) ? v : null }).toEqual({ file: f.name, has: null });
    }
  });

  test("a secret whose name the engine reads itself (DOCKER_*) is refused before anything runs, also with --dry-run", async () => {
    const ext = `#!/bin/sh\ncase "$1" in\n--discover) echo '["test:unit"]' ;;\n--build-action) cat >/dev/null; echo '{"program":"touch","args":["ran"],"env":{"DOCKER_AUTH_TOKEN":"zzz-secret-value"}}' ;;\n*) exit 1 ;;\nesac\n`;
    const dir = fixture({
      "devflow.toml": `[runtime]\nprofile = "container"\n[container]\nengine = "podman"\n[targets]\npr = ["test:unit"]\n[extensions.x]\nsource = "path"\npath = "devflow-ext-x"\ntrusted = true\nrequired = true\n`,
      "devflow-ext-x": ext,
      "Dockerfile.devflow": "FROM scratch\n",
    });
    for (const args of [["verify", "--dry-run"], ["verify"]]) {
      const r = await runDwf(args, { cwd: dir });
      expect(r.code).toBe(2);
      expect(r.stderr).toContain("DOCKER_AUTH_TOKEN looks like a secret");
      expect(r.all).not.toContain("zzz-secret-value");
    }
    expect(existsSync(join(dir, "ran"))).toBe(false);
  });

  /**
   * The Docker daemon for the docker case: podman's Docker API (one image store with podman)
   * where it can start containers here, else a dockerd of this test's own (rootless for an
   * ordinary user), whose images dwf builds through docker itself.
   */
  async function dockerDaemon(): Promise<{
    dockerHost: string;
    ownStore: boolean;
    names(prefix: string): string[];
    stop(): Promise<void>;
  }> {
    if (!dockerApiUnusable()) {
      const sock = await startDockerSocket();
      return { dockerHost: sock.dockerHost, ownStore: false, names: containersNamed, stop: sock.stop };
    }
    const d = await startDockerd();
    const names = (prefix: string) =>
      d
        .docker(["ps", "-a", "--filter", `name=^${prefix}`, "--format", "{{.Names}}"])
        .out.split("\n")
        .filter((l) => l.startsWith(prefix));
    return { dockerHost: d.dockerHost, ownStore: true, names, stop: d.stop };
  }

  describe("container tasks (podman, and docker through podman's API or a dockerd)", () => {
    const TOKEN = Math.random().toString(36).slice(2, 8);
    const IMAGE = `localhost/dwf-secret-${TOKEN}`;
    beforeAll(() => {
      ensureBaseImage();
      dwfBinary();
    });
    afterAll(() => {
      removeContainers(`dwf-secret-${TOKEN}`);
      removeContainers(`dwf-swap-${TOKEN}`);
      removeImages(IMAGE);
    });

    for (const engine of ["podman", "docker"] as const) {
      test(`${engine}: a secret reaches the container through the engine's environment, never its argv (ps shows no value)`, async () => {
        const daemon = engine === "docker" ? await dockerDaemon() : undefined;
        const engineEnv = daemon ? { DWF_ENGINE: "docker", DOCKER_HOST: daemon.dockerHost } : {};
        try {
          const secret = `s3cr3t-${TOKEN}-VALUE`;
          const ext = `#!/bin/sh\ncase "$1" in\n--discover) echo '["test:unit"]' ;;\n--build-action) cat >/dev/null; echo '{"program":"sh","args":["-c","sleep 3; [ \\"$API_TOKEN\\" = \\"${secret.slice(0, 8)}\\"\\"${secret.slice(8)}\\" ] && echo secret-arrived; [ \\"$PLAIN_VALUE\\" = \\"a b\\" ] && echo plain-arrived"],"env":{"API_TOKEN":"${secret}","PLAIN_VALUE":"a b"}}' ;;\n*) exit 1 ;;\nesac\n`;
          const dir = fixture({
            "devflow.toml": `[project]\nname = "secret-${TOKEN}"\n[runtime]\nprofile = "container"\n[container]\nimage = "${IMAGE}"\nengine = "podman"\n[targets]\npr = ["test:unit"]\n[cache]\ntasks = false\n[extensions.sec]\nsource = "path"\npath = "devflow-ext-sec"\ntrusted = true\nrequired = true\n`,
            "devflow-ext-sec": ext,
            "Dockerfile.devflow": `FROM ${BASE_IMAGE}\n`,
          });
          // Build the image first (with podman where it is one store with the daemon, else with
          // the daemon's own docker build), so the watched run is only the task.
          const built = await runDwf(["image", "build"], { cwd: dir, env: daemon?.ownStore ? engineEnv : {}, timeoutMs: 120_000 });
          expect({ code: built.code, output: built.code === 0 ? "" : built.all }).toEqual({ code: 0, output: "" });
          const proc = Bun.spawn([dwfBinary(), "verify", "--verbose"], {
            cwd: dir,
            env: cleanEnv(engineEnv),
            stdout: "pipe",
            stderr: "pipe",
          });
          const seen: string[] = [];
          const watch = (async () => {
            for (let i = 0; i < 60 && proc.exitCode === null; i++) {
              for (const pid of readdirSync("/proc").filter((n) => /^\d+$/.test(n))) {
                try {
                  const cmd = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").join(" ");
                  if (cmd.includes(`secret-${TOKEN}`) || cmd.includes(secret)) seen.push(cmd);
                } catch {}
              }
              await Bun.sleep(100);
            }
          })();
          const [out, err] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text()]);
          await proc.exited;
          await watch;
          expect({ code: proc.exitCode, output: proc.exitCode === 0 ? "" : out + err }).toEqual({ code: 0, output: "" });
          expect(out + err).toContain("secret-arrived");
          expect(out + err).toContain("plain-arrived");
          // The engine's argv was seen (it names the container), and never held the value (the
          // task's own script compares against the value split in two, so it never holds it either).
          expect(seen.some((c) => c.includes("-e API_TOKEN"))).toBe(true);
          expect(seen.filter((c) => c.includes(secret))).toEqual([]);
          expect((daemon?.names ?? containersNamed)(`dwf-secret-${TOKEN}`)).toEqual([]);
        } finally {
          await daemon?.stop();
          removeContainers(`dwf-secret-${TOKEN}`);
        }
      }, 180_000);
    }

    test("a container task that swaps its cache folder for a symlink to a host folder: the next run refuses to mount it", async () => {
      const host = tempDir("dwf-hostdir-");
      writeFileSync(join(host, "private.txt"), "host only\n");
      const before = snapshot(host);
      // First run: the task, inside the container, replaces .cache/devflow/evil (holding the
      // mounted pip folder) with a symlink to a host path, through /workspace.
      const swap = `rm -rf /workspace/.cache/devflow/evil; ln -s ${host} /workspace/.cache/devflow/evil; echo swapped`;
      const ext = `#!/bin/sh\ncase "$1" in\n--discover) echo '["test:unit"]' ;;\n--describe) echo '{"api_version":1,"cache_mounts":[{"path":"pip","container":"/home/dwf/.cache/pip","env":"PIP_CACHE_DIR"}]}' ;;\n--build-action) cat >/dev/null; echo '{"program":"sh","args":["-c","${swap}"]}' ;;\n*) exit 1 ;;\nesac\n`;
      const dir = fixture({
        "devflow.toml": `[project]\nname = "swap-${TOKEN}"\n[runtime]\nprofile = "container"\n[container]\nimage = "${IMAGE}"\nengine = "podman"\n[targets]\npr = ["test:unit"]\n[cache]\ntasks = false\n[extensions.evil]\nsource = "path"\npath = "devflow-ext-evil"\ntrusted = true\nrequired = true\n`,
        "devflow-ext-evil": ext,
        "Dockerfile.devflow": `FROM ${BASE_IMAGE}\n`,
      });
      const first = await runDwf(["verify", "--verbose"], { cwd: dir, timeoutMs: 120_000 });
      expect(first.all).toContain("swapped");
      expect(lstatSync(join(dir, ".cache/devflow/evil")).isSymbolicLink()).toBe(true);
      const second = await runDwf(["verify"], { cwd: dir, timeoutMs: 60_000 });
      expect(second.code).toBe(2);
      expect(second.stderr).toContain("is a symlink");
      expect(second.stderr).toContain(host);
      expect(messageProblem(second.stderr)).toBeNull();
      expect(snapshot(host)).toEqual(before);
      expect(containersNamed(`dwf-swap-${TOKEN}`)).toEqual([]);
    }, 180_000);
  });
});

describe("FIFOs, devices and symlinks in place of dwf's own files (item 3)", () => {
  /** The files a first run leaves: one task entry, the stat cache, the config memo. */
  function ownFiles(dir: string): Record<string, string> {
    const tasks = join(dir, ".cache/devflow/tasks");
    const shard = readdirSync(tasks).find((n) => /^[0-9a-f]{2}$/.test(n))!;
    const stat = readdirSync(join(tasks, "stat"));
    return {
      "task entry": join(tasks, shard, readdirSync(join(tasks, shard))[0]!),
      "stat cache": join(tasks, "stat", stat.find((n) => /^[0-9a-f]{24}\.json$/.test(n))!),
      "config memo": join(tasks, "stat", stat.find((n) => n.endsWith("-config.json"))!),
      "CACHEDIR.TAG": join(dir, ".cache/devflow/CACHEDIR.TAG"),
    };
  }

  for (const kind of ["fifo", "symlink to /dev/zero"] as const) {
    test(`a ${kind} in place of each: the run ignores it and finishes in seconds; prune unlinks it`, async () => {
      const dir = project();
      // Twice: the config memo is written once the cache root exists.
      for (let i = 0; i < 2; i++) expect((await runDwf(["test:unit"], { cwd: dir })).code).toBe(0);
      for (const [what, path] of Object.entries(ownFiles(dir))) {
        rmSync(path);
        if (kind === "fifo") Bun.spawnSync(["mkfifo", path]);
        else symlinkSync("/dev/zero", path);
        const r = await runDwf(["test:unit", "--json"], { cwd: dir, timeoutMs: 20_000 });
        // A tag that is not a regular file is not dwf's tag: the root is refused, never read from.
        const expected = what === "CACHEDIR.TAG" ? 2 : 0;
        expect({ what, code: r.code, fast: r.ms < 15_000 }).toEqual({ what, code: expected, fast: true });
        if (what === "CACHEDIR.TAG") {
          expect(r.stderr).toContain("already holds files dwf did not create");
          // Without its tag the folder is not provably dwf's: the message says to delete it.
          expect(r.stderr).toContain("delete the folder");
          rmSync(join(dir, ".cache/devflow"), { recursive: true });
          expect((await runDwf(["test:unit"], { cwd: dir })).code).toBe(0);
        }
      }
      // A FIFO where a task entry goes: prune removes it as a link/special file, never opens it.
      const shard = readdirSync(join(dir, ".cache/devflow/tasks")).find((n) => /^[0-9a-f]{2}$/.test(n))!;
      const planted = join(dir, ".cache/devflow/tasks", shard, `${shard}${"0".repeat(62)}.json`);
      if (kind === "fifo") Bun.spawnSync(["mkfifo", planted]);
      else symlinkSync("/dev/zero", planted);
      const p = await runDwf(["cache", "prune", "--all"], { cwd: dir, timeoutMs: 20_000 });
      expect(p.code).toBe(0);
      expect(
        existsSync(planted) ||
          (() => {
            try {
              return lstatSync(planted).isSymbolicLink();
            } catch {
              return false;
            }
          })(),
      ).toBe(false);
    });
  }

  test("with a FIFO in place of the stat cache, SIGTERM still ends a run at once (exit 143)", async () => {
    const dir = fixture(
      { Makefile: "test-unit:\n\t@test -e FAST || sleep 30\n", FAST: "", "devflow.toml": '[project]\nstack = ["custom"]\n' },
      { git: true },
    );
    for (let i = 0; i < 2; i++) expect((await runDwf(["test:unit"], { cwd: dir })).code).toBe(0);
    const stat = ownFiles(dir)["stat cache"]!;
    rmSync(stat);
    Bun.spawnSync(["mkfifo", stat]);
    rmSync(join(dir, "FAST"));
    const proc = Bun.spawn([dwfBinary(), "test:unit"], { cwd: dir, env: cleanEnv(), stdout: "ignore", stderr: "ignore" });
    try {
      await Bun.sleep(1500);
      const sent = performance.now();
      proc.kill("SIGTERM");
      const code = await Promise.race([proc.exited, Bun.sleep(10_000).then(() => "hung")]);
      expect(code).toBe(143);
      expect(performance.now() - sent).toBeLessThan(5_000);
    } finally {
      proc.kill("SIGKILL");
    }
  });
});

/** An external extension with a given action and --describe answer, on the host profile. */
function extProject(action: object, describe?: object, files: Record<string, string> = {}): string {
  const script = `#!/usr/bin/env python3
import json, sys
ACTION = json.loads(${JSON.stringify(JSON.stringify(action))})
DESCRIBE = ${describe ? `json.loads(${JSON.stringify(JSON.stringify(describe))})` : "None"}
if sys.argv[1] == "--discover":
    print(json.dumps(["test:unit"]))
elif sys.argv[1] == "--describe" and DESCRIBE is not None:
    print(json.dumps(DESCRIBE))
elif sys.argv[1] == "--build-action":
    json.load(sys.stdin)
    print(json.dumps(ACTION))
else:
    sys.exit(1)
`;
  return fixture({
    "devflow.toml": `[runtime]\nprofile = "host"\n[targets]\npr = ["test:unit"]\n\n[extensions.evil]\nsource = "path"\npath = "devflow-ext-evil"\nrequired = true\n`,
    "devflow-ext-evil": script,
    ...files,
  });
}

describe("extensions and config steering paths (item 4)", () => {
  test("an action cwd that is a symlink out of the project is refused; nothing runs there", async () => {
    const outside = tempDir("dwf-cwd-out-");
    const dir = extProject({ program: "touch", args: ["ran-here"], cwd: "sub" });
    symlinkSync(outside, join(dir, "sub"));
    const r = await runDwf(["verify"], { cwd: dir });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("extension 'evil'");
    expect(r.stderr).toContain("leads outside the project");
    expect(readdirSync(outside)).toEqual([]);
  });

  const mounts: [string, string][] = [
    ["/c:ro,z", "contains ':' or ','"],
    ["/", "the container's root"],
    ["/workspace/src", "inside /workspace"],
    ["/workspace", "inside /workspace"],
    ["/home/dwf/.cache/x\n/etc", "control character"],
    ["relative/path", "not absolute"],
    ["/home/dwf/../etc", "not a normalised path"],
    ["/etc", "system folder"],
    ["/proc/self", "kernel file system"],
  ];
  for (const [container, says] of mounts) {
    test(`cache mount container path ${JSON.stringify(container)} is refused with exit 2 naming the extension and the value`, async () => {
      const dir = extProject(
        { program: "touch", args: ["ran"] },
        { api_version: 1, cache_mounts: [{ path: "pip", container, env: "PIP_CACHE_DIR" }] },
      );
      const r = await runDwf(["verify"], { cwd: dir });
      expect(r.code).toBe(2);
      expect(r.stderr).toContain("extension 'evil'");
      expect(r.stderr).toContain(JSON.stringify(container));
      expect(r.stderr).toContain(says);
      expect(messageProblem(r.stderr)).toBeNull();
      expect(existsSync(join(dir, "ran"))).toBe(false);
    });
  }

  for (const name of ["A=B", "A\nB", "", "1X", "A B"]) {
    test(`--describe env name ${JSON.stringify(name)} (in env and in a cache mount) is refused with exit 2`, async () => {
      for (const describe of [
        { api_version: 1, env: { [name]: "x" } },
        { api_version: 1, cache_mounts: [{ path: "pip", container: "/home/dwf/.cache/pip", env: name }] },
      ]) {
        const dir = extProject({ program: "touch", args: ["ran"] }, describe);
        const r = await runDwf(["verify"], { cwd: dir });
        expect(r.code).toBe(2);
        expect(r.stderr).toContain("extension 'evil'");
        expect(r.stderr).toContain(JSON.stringify(name));
        expect(r.stderr).toContain("not a variable name");
        expect(existsSync(join(dir, "ran"))).toBe(false);
      }
    });
  }

  test('fingerprint_inputs = ["/**"] is a clear exit-2 error naming the key, not an internal error', async () => {
    const dir = project('[container]\nfingerprint_inputs = ["/**"]\n');
    for (const args of [["fingerprint"], ["test:unit", "--profile", "container", "--dry-run"]]) {
      const r = await runDwf(args, { cwd: dir, timeoutMs: 20_000 });
      expect(r.code).toBe(2);
      expect(r.stderr).toContain('container.fingerprint_inputs[0]: "/**" is an absolute path');
      expect(r.stderr).not.toContain("internal error");
      expect(r.ms).toBeLessThan(10_000);
    }
  });

  test('dockerfile = "../../../etc/passwd" and an input through ".." are refused', async () => {
    for (const toml of ['[container]\ndockerfile = "../../../etc/passwd"\n', '[container]\nfingerprint_inputs = ["../../x.txt"]\n']) {
      const r = await runDwf(["fingerprint"], { cwd: project(toml) });
      expect(r.code).toBe(2);
      expect(r.stderr).toContain("leads outside the project ('..')");
      expect(messageProblem(r.stderr)).toBeNull();
    }
    const dir = project('[container]\ndockerfile = "ci/Dockerfile"\n');
    mkdirSync(join(dir, "ci"));
    symlinkSync("/etc/passwd", join(dir, "ci/Dockerfile"));
    const r = await runDwf(["fingerprint"], { cwd: dir });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("leads outside the project through a symlink");
  });
});
