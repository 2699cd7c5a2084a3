// The remote task cache against the real turborepo-remote-cache server: the compiled dwf,
// container tasks on the busybox test image (their keys hold no host path, so they are
// shared), fixture clones at different paths, and servers that are down, hang or refuse.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { gunzipSync, gzipSync } from "node:zlib";
import { dwfBinary, fixture, runDwf, type DwfResult } from "../support/dwf.ts";
import { containerProject, ensureBaseImage, removeContainers, removeImages } from "../support/podman.ts";
import { closedPortUrl, startHangingServer, startRemoteCache, type RemoteCacheServer } from "../support/remote-cache.ts";
import { ENTRY_NAME, artifactTag, remoteHash } from "../../src/cache/artifact.ts";
import { writeTar } from "../../src/cache/tar.ts";

const ID = Math.random().toString(36).slice(2, 8);
const IMAGE = `localhost/dwf-itest-remote-${ID}`;
const PROJECT = `itest-remote-${ID}`;
const TEAM = "acme";
const TOKEN = `token-${ID}-good`;
const SIGNING = `signing-${ID}`;
const SLOW = 180_000;

let server: RemoteCacheServer;

function files(url: string, marker: string, extra = ""): Record<string, string> {
  return {
    ...containerProject({
      name: PROJECT,
      image: IMAGE,
      targets: { pr: ["build:debug", "test:unit"] },
      makefile: {
        "build-debug": [
          "mkdir -p out/bin",
          'echo "built from $(cat src.txt)" > out/app.txt',
          "ln -sf ../app.txt out/bin/latest",
          "echo building",
        ],
        "test-unit": ["cat out/bin/latest", 'echo "ci is $CI"', "echo unit-ok"],
      },
      extra: `[cache.remote]\nurl = "${url}"\nteam = "${TEAM}"\n\n[cache.outputs]\n"build:debug" = ["out"]\n${extra}`,
    }),
    "src.txt": `${marker}\n`,
    // Build outputs are not sources: ignored, so restoring them does not change the next key.
    ".gitignore": "out/\n",
  };
}

/** A git repository with these files, and a way to clone it to a fresh path. */
function repo(marker: string, opts: { url?: string; extra?: string; files?: Record<string, string> } = {}) {
  const origin = fixture({ ...files(opts.url ?? server.url, marker, opts.extra), ...opts.files }, { git: true });
  return {
    origin,
    clone(): string {
      const dir = join(fixture({}), `clone-${Math.random().toString(36).slice(2, 6)}`);
      const r = Bun.spawnSync(["git", "clone", "-q", origin, dir]);
      if (r.exitCode !== 0) throw new Error(r.stderr.toString());
      return dir;
    },
  };
}

const ENV = { DWF_REMOTE_CACHE_TOKEN: TOKEN, DWF_REMOTE_CACHE_SIGNATURE_KEY: SIGNING };

function verify(cwd: string, args: string[] = [], env: Record<string, string | undefined> = {}): Promise<DwfResult> {
  return runDwf(["verify", ...args], { cwd, env: { ...ENV, ...env }, timeoutMs: 120_000 });
}

/** Status per command, with where a cached result came from. */
async function statuses(cwd: string, args: string[] = [], env: Record<string, string | undefined> = {}) {
  const r = await verify(cwd, ["--json", ...args], env);
  const doc = JSON.parse(r.stdout) as { tasks: { command: string; status: string; cache?: string }[] };
  return { r, tasks: Object.fromEntries(doc.tasks.map((t) => [t.command, t.cache ? `${t.status} (${t.cache})` : t.status])) };
}

const warnings = (r: DwfResult) => r.stderr.split("\n").filter((l) => l.startsWith("warning:"));
const count = (list: string[], prefix: string) => list.filter((l) => l.startsWith(prefix)).length;

describe("remote task cache (turborepo-remote-cache)", () => {
  beforeAll(async () => {
    ensureBaseImage();
    dwfBinary();
    server = await startRemoteCache({ token: TOKEN });
  }, SLOW);
  afterAll(async () => {
    await server?.stop();
    removeContainers(`dwf-${PROJECT}-`);
    removeImages(IMAGE);
  });

  test(
    "a second clone at another path gets every container task from the server, outputs restored; the next run is local",
    async () => {
      const project = repo(`shared-${ID}`);
      // The server is shared by the file's tests, in any order: count only this run's uploads.
      const putsBefore = count(server.requests(), "PUT /v8/artifacts/");
      const first = await statuses(project.origin);
      expect(first.tasks).toEqual({ "build:debug": "passed", "test:unit": "passed" });
      expect(warnings(first.r)).toEqual([]);
      expect(count(server.requests(), "PUT /v8/artifacts/") - putsBefore).toBe(2);

      const clone = project.clone();
      expect(existsSync(join(clone, "out"))).toBe(false);
      const text = await verify(clone);
      expect(text.code).toBe(0);
      expect(text.stdout).toContain("◆ cached (remote) build:debug [custom]");
      expect(text.stdout).toContain("◆ cached (remote) test:unit [custom]");
      expect(warnings(text)).toEqual([]);
      // The declared outputs came with the result, the symlink inside them too.
      expect(readFileSync(join(clone, "out/app.txt"), "utf8")).toBe(`built from shared-${ID}\n`);
      expect(readFileSync(join(clone, "out/bin/latest"), "utf8")).toBe(`built from shared-${ID}\n`);

      const gets = count(server.requests(), "GET /v8/artifacts/");
      const again = await statuses(clone);
      expect(again.tasks).toEqual({ "build:debug": "cached (local)", "test:unit": "cached (local)" });
      // Local first: a local hit asks the server nothing.
      expect(count(server.requests(), "GET /v8/artifacts/")).toBe(gets);
    },
    SLOW,
  );

  test(
    "what CI (CI=true) verified is reused on a laptop without CI, at another path: every container task cached (remote)",
    async () => {
      const project = repo(`laptop-ci-${ID}`);
      const puts = count(server.requests(), "PUT /v8/artifacts/");
      const ci = await statuses(project.origin, [], { CI: "true" });
      expect(ci.tasks).toEqual({ "build:debug": "passed", "test:unit": "passed" });
      expect(count(server.requests(), "PUT /v8/artifacts/") - puts).toBe(2);

      const laptop = await verify(project.clone(), ["--verbose"], { CI: undefined });
      expect(laptop.code).toBe(0);
      expect(laptop.stdout).toContain("◆ cached (remote) build:debug [custom]");
      expect(laptop.stdout).toContain("◆ cached (remote) test:unit [custom]");
      expect(laptop.stdout).toContain("ci is true");
      expect(warnings(laptop)).toEqual([]);
      const fp = (await runDwf(["fingerprint"], { cwd: project.origin })).stdout.trim();
      const explained = await verify(project.clone(), ["--explain"], { CI: undefined });
      expect(explained.stderr).toContain(`test:unit [custom] key`);
      expect(explained.stderr).toContain(`shared: container image ${fp.slice(0, 12)}`);

      // The other way round: a laptop's container run (no CI on the host) is what CI gets, and
      // its tasks saw CI=true, as CI's do.
      const other = repo(`laptop-up-${ID}`);
      const up = await verify(other.origin, ["--verbose"], { CI: undefined });
      expect(up.code).toBe(0);
      expect(up.stdout).toContain("ci is true");
      expect((await statuses(other.clone(), [], { CI: "true" })).tasks).toEqual({
        "build:debug": "cached (remote)",
        "test:unit": "cached (remote)",
      });
      // Whatever the host's CI says (CI=false, CI=1), the container's is CI=true: the same key.
      expect((await statuses(other.clone(), [], { CI: "false" })).tasks).toEqual({
        "build:debug": "cached (remote)",
        "test:unit": "cached (remote)",
      });
    },
    SLOW,
  );

  test(
    "a laptop whose every task is on the server asks the container engine nothing: no image lookup, no build",
    async () => {
      const project = repo(`no-engine-${ID}`);
      expect((await statuses(project.origin)).tasks).toEqual({ "build:debug": "passed", "test:unit": "passed" });
      // An engine that records every call and answers none, first on PATH.
      const bin = fixture({ podman: '#!/bin/sh\necho "$*" >> "$(dirname "$0")/calls"\nexit 125\n' });
      const path = `${bin}:${process.env.PATH}`;
      const laptop = await statuses(project.clone(), [], { PATH: path, DWF_ENGINE: "podman" });
      expect(laptop.tasks).toEqual({ "build:debug": "cached (remote)", "test:unit": "cached (remote)" });
      expect(laptop.r.code).toBe(0);
      expect(existsSync(join(bin, "calls"))).toBe(false);
      // One task that must run needs the engine, and says so.
      const changed = project.clone();
      writeFileSync(join(changed, "src.txt"), "changed\n");
      const miss = await verify(changed, [], { PATH: path, DWF_ENGINE: "podman" });
      expect(miss.code).toBe(2);
      expect(miss.stderr).toContain("DWF_ENGINE = podman");
      expect(readFileSync(join(bin, "calls"), "utf8")).toContain("image inspect");
    },
    SLOW,
  );

  test(
    "where the image has the tools a stack asks about is shared too: a fresh clone plans without the engine",
    async () => {
      // A justfile beside the Makefile: the stack asks the image whether it has `just` (it has not).
      const project = repo(`tools-${ID}`, { files: { justfile: "test-unit:\n\techo from-just\n" } });
      const puts = count(server.requests(), "PUT /v8/artifacts/");
      const first = await verify(project.origin, ["--json"], { DWF_LOG: "debug" });
      expect(first.code).toBe(0);
      expect(first.stderr).toContain("tools: looking up just in");
      // Two task results and the image's answers.
      expect(count(server.requests(), "PUT /v8/artifacts/") - puts).toBe(3);

      const bin = fixture({ podman: '#!/bin/sh\necho "$*" >> "$(dirname "$0")/calls"\nexit 125\n' });
      const laptop = await statuses(project.clone(), [], { PATH: `${bin}:${process.env.PATH}`, DWF_ENGINE: "podman" });
      expect(laptop.tasks).toEqual({ "build:debug": "cached (remote)", "test:unit": "cached (remote)" });
      expect(existsSync(join(bin, "calls"))).toBe(false);

      // Answers altered on the server no longer match their signature: not taken, the image is
      // asked (here: an engine that fails), though every task result is still there.
      const fp = (await runDwf(["fingerprint"], { cwd: project.origin })).stdout.trim();
      const stored = join(server.storage, TEAM, remoteHash(`dwf-image-tools-v1\0${IMAGE}:${fp}`));
      const answers = JSON.parse(readFileSync(stored, "utf8"));
      expect(answers.tools).toEqual({ just: null });
      writeFileSync(stored, JSON.stringify({ ...answers, tools: { just: "/usr/bin/just" } }));
      const tampered = await verify(project.clone(), [], { PATH: `${bin}:${process.env.PATH}`, DWF_ENGINE: "podman" });
      expect(tampered.code).toBe(2);
      expect(readFileSync(join(bin, "calls"), "utf8")).toContain("image inspect");
    },
    SLOW,
  );

  test(
    "a secret a task prints is masked in what is uploaded",
    async () => {
      const project = repo(`secret-${ID}`);
      // The task prints a file holding the token's value: the log on the server must not.
      writeFileSync(join(project.origin, "notes.txt"), `the token is ${TOKEN}\n`);
      const mk = join(project.origin, "Makefile");
      writeFileSync(mk, readFileSync(mk, "utf8").replace("\techo unit-ok", "\tcat notes.txt\n\techo unit-ok"));
      const before = new Set(readdirSync(join(server.storage, TEAM)));
      const r = await verify(project.origin);
      expect(r.code).toBe(0);
      const fresh = readdirSync(join(server.storage, TEAM)).filter((f) => !before.has(f) && !f.endsWith(".tag"));
      expect(fresh).toHaveLength(2);
      const logs = fresh.map((f) => gunzipSync(readFileSync(join(server.storage, TEAM, f))).toString("latin1")).join("\n");
      expect(logs).toContain("the token is ***");
      expect(logs).not.toContain(TOKEN);
    },
    SLOW,
  );

  test(
    "read-only (flag or DWF_REMOTE_CACHE=read): lookups but no PUT reaches the server",
    async () => {
      const project = repo(`readonly-${ID}`);
      const puts = count(server.requests(), "PUT ");
      const getsBefore = count(server.requests(), "GET /v8/artifacts/");
      const a = await statuses(project.origin, ["--remote-cache=read"]);
      expect(a.tasks).toEqual({ "build:debug": "passed", "test:unit": "passed" });
      const b = await statuses(project.clone(), [], { DWF_REMOTE_CACHE: "read" });
      expect(b.tasks).toEqual({ "build:debug": "passed", "test:unit": "passed" });
      expect(count(server.requests(), "PUT ")).toBe(puts);
      expect(count(server.requests(), "GET /v8/artifacts/") - getsBefore).toBeGreaterThanOrEqual(4);
      // --remote-cache=off asks the server nothing at all.
      const before = server.requests().length;
      expect((await statuses(project.clone(), ["--remote-cache=off"])).tasks["test:unit"]).toBe("passed");
      expect(server.requests().length).toBe(before);
    },
    SLOW,
  );

  test(
    "an entry signed with another key is a miss with a warning; the tasks run and pass",
    async () => {
      const project = repo(`signature-${ID}`);
      expect((await verify(project.origin)).code).toBe(0);
      const { r, tasks } = await statuses(project.clone(), [], { DWF_REMOTE_CACHE_SIGNATURE_KEY: "not-the-team-key" });
      expect(r.code).toBe(0);
      expect(tasks).toEqual({ "build:debug": "passed", "test:unit": "passed" });
      const w = warnings(r);
      expect(w).toHaveLength(2);
      expect(w.every((l) => l.includes("its signature does not match"))).toBe(true);
    },
    SLOW,
  );

  test(
    "a stored artifact edited on the server's disk is refused; the task runs",
    async () => {
      const project = repo(`tampered-${ID}`);
      expect((await verify(project.origin)).code).toBe(0);
      const dir = join(server.storage, TEAM);
      // Flip one byte in the middle of every stored artifact of this project (tags left alone).
      const mine = readdirSync(dir).filter((f) => !f.endsWith(".tag"));
      for (const f of mine) {
        const bytes = readFileSync(join(dir, f));
        bytes[bytes.length >> 1]! ^= 0xff;
        writeFileSync(join(dir, f), bytes);
      }
      const clone = project.clone();
      const { r, tasks } = await statuses(clone);
      expect(r.code).toBe(0);
      expect(tasks).toEqual({ "build:debug": "passed", "test:unit": "passed" });
      expect(warnings(r).some((l) => l.includes("its signature does not match"))).toBe(true);
      expect(readFileSync(join(clone, "out/app.txt"), "utf8")).toBe(`built from tampered-${ID}\n`);
    },
    SLOW,
  );

  test(
    "a correctly signed entry that reaches outside the project or its outputs is refused, nothing written outside",
    async () => {
      const project = repo(`escape-${ID}`);
      // Learn this tree's keys from a run that stores locally only.
      expect((await verify(project.origin, ["--remote-cache=read"])).code).toBe(0);
      const tasksDir = join(project.origin, ".cache/devflow/tasks");
      const entries = readdirSync(tasksDir)
        .flatMap((d) =>
          readdirSync(join(tasksDir, d))
            .filter((f) => f.endsWith(".json"))
            .map((f) => JSON.parse(readFileSync(join(tasksDir, d, f), "utf8")) as { key?: string; task?: string }),
        )
        .filter((e): e is { key: string; task: string } => typeof e.key === "string" && typeof e.task === "string");
      expect(entries.map((e) => e.task).sort()).toEqual(["build:debug@custom", "test:unit@custom"]);
      const victim = fixture({ "keep.txt": "untouched\n" });
      const evil = (key: string, task: string) => {
        const entry = { version: 1, key, task, durationMs: 1, output: "forged\n", outputs: ["out"] };
        const depth = "../".repeat(12);
        return gzipSync(
          writeTar([
            { type: "file", path: ENTRY_NAME, mode: 0o644, data: new TextEncoder().encode(JSON.stringify(entry)) },
            task.startsWith("build")
              ? { type: "symlink", path: "out/app.txt", target: `${depth}${victim.slice(1)}/keep.txt` }
              : { type: "file", path: `out/${depth}${victim.slice(1)}/keep.txt`, mode: 0o644, data: new TextEncoder().encode("pwned\n") },
          ]),
        );
      };
      for (const e of entries) {
        const hash = remoteHash(e.key);
        const body = evil(e.key, e.task);
        const put = await fetch(`${server.url}/v8/artifacts/${hash}?slug=${TEAM}`, {
          method: "PUT",
          body,
          headers: {
            Authorization: `Bearer ${TOKEN}`,
            "Content-Type": "application/octet-stream",
            "x-artifact-tag": artifactTag(SIGNING, hash, TEAM, body),
          },
        });
        expect(put.status).toBe(200);
      }
      const { r, tasks } = await statuses(project.clone(), ["--remote-cache=read"]);
      expect(tasks).toEqual({ "build:debug": "passed", "test:unit": "passed" });
      const w = warnings(r).join("\n");
      expect(w).toContain("points outside the project");
      expect(w).toContain("is not a plain relative path");
      expect(readFileSync(join(victim, "keep.txt"), "utf8")).toBe("untouched\n");
    },
    SLOW,
  );

  test(
    "a server that is down costs one warning; the run passes uncached",
    async () => {
      const project = repo(`down-${ID}`, { url: closedPortUrl() });
      const { r, tasks } = await statuses(project.origin);
      expect(r.code).toBe(0);
      expect(tasks).toEqual({ "build:debug": "passed", "test:unit": "passed" });
      const w = warnings(r);
      expect(w).toHaveLength(1);
      expect(w[0]).toMatch(/remote cache http:\/\/127\.0\.0\.1:\d+ is unreachable \(ECONNREFUSED\): continuing without it/);
      const info = await runDwf(["cache", "info"], { cwd: project.origin, env: ENV });
      expect(info.code).toBe(0);
      expect(info.stdout).toMatch(
        /Remote cache: http:\/\/127\.0\.0\.1:\d+ {2}team 'acme', read-write, token from DWF_REMOTE_CACHE_TOKEN: does not answer: ECONNREFUSED/,
      );
    },
    SLOW,
  );

  test(
    "a server that hangs is given the 2 s budget, once; the run goes on and exits without waiting for it",
    async () => {
      const hanging = startHangingServer();
      try {
        const project = repo(`hang-${ID}`, { url: hanging.url });
        const baseline = await statuses(project.clone(), ["--remote-cache=off"]);
        expect(baseline.r.code).toBe(0);
        const { r, tasks } = await statuses(project.origin);
        expect(r.code).toBe(0);
        expect(tasks).toEqual({ "build:debug": "passed", "test:unit": "passed" });
        expect(hanging.connections()).toBeGreaterThan(0);
        const w = warnings(r);
        expect(w).toEqual([`warning: remote cache ${hanging.url} did not answer within 2s: continuing without it for this run.`]);
        // The budget, not a per-request timeout times the task count, and no wait for uploads at exit.
        expect(r.ms).toBeLessThan(baseline.r.ms + 2000 + 3000);
        expect(r.ms).toBeGreaterThan(2000);
      } finally {
        hanging.stop();
      }
    },
    SLOW,
  );

  test(
    "a rejected token is named once (DWF_REMOTE_CACHE_TOKEN or TURBO_TOKEN); the run passes",
    async () => {
      const project = repo(`auth-${ID}`);
      const bad = await statuses(project.origin, [], { DWF_REMOTE_CACHE_TOKEN: "wrong-token" });
      expect(bad.r.code).toBe(0);
      expect(bad.tasks).toEqual({ "build:debug": "passed", "test:unit": "passed" });
      expect(warnings(bad.r)).toEqual([
        `warning: remote cache ${server.url} does not accept the token in DWF_REMOTE_CACHE_TOKEN (401): check DWF_REMOTE_CACHE_TOKEN for team 'acme'. Continuing with the local cache only.`,
      ]);
      expect(bad.r.all).not.toContain("wrong-token");
      const turbo = await verify(project.clone(), [], { DWF_REMOTE_CACHE_TOKEN: undefined, TURBO_TOKEN: "also-wrong" });
      expect(turbo.code).toBe(0);
      expect(warnings(turbo)).toHaveLength(1);
      expect(warnings(turbo)[0]).toContain("the token in TURBO_TOKEN (401)");
    },
    SLOW,
  );

  test(
    "two runs uploading the same keys at once both pass, and a third clone gets both results",
    async () => {
      const project = repo(`concurrent-${ID}`);
      const [a, b] = await Promise.all([statuses(project.clone()), statuses(project.clone())]);
      for (const x of [a, b]) {
        expect(x.r.code).toBe(0);
        expect(warnings(x.r)).toEqual([]);
      }
      const third = await statuses(project.clone());
      expect(third.tasks).toEqual({ "build:debug": "cached (remote)", "test:unit": "cached (remote)" });
      expect(warnings(third.r)).toEqual([]);
    },
    SLOW,
  );

  test(
    "inside the dwf image (IS_CONTAINER=true, DWF_IMAGE of this fingerprint) keys match container runs, both ways",
    async () => {
      const project = repo(`in-image-${ID}`);
      const fp = (await runDwf(["fingerprint"], { cwd: project.origin })).stdout.trim();
      expect(fp).toMatch(/^[0-9a-f]{64}$/);
      const inImage = { IS_CONTAINER: "true", DWF_IMAGE: `${IMAGE}:${fp}`, CI: "true" };
      // A container run uploads; a run "in the image" (as CI's container jobs) reuses it.
      expect((await verify(project.origin)).code).toBe(0);
      const ci = await statuses(project.clone(), [], inImage);
      expect(ci.tasks).toEqual({ "build:debug": "cached (remote)", "test:unit": "cached (remote)" });

      // And the other way: what runs in the image is what a laptop's container run gets.
      const other = repo(`in-image-up-${ID}`);
      const up = await statuses(other.origin, [], inImage);
      expect(up.tasks).toEqual({ "build:debug": "passed", "test:unit": "passed" });
      const laptop = await statuses(other.clone());
      expect(laptop.tasks).toEqual({ "build:debug": "cached (remote)", "test:unit": "cached (remote)" });

      // A claim naming another image is not believed: host keys, local only.
      const wrong = await verify(project.clone(), ["--verbose"], { ...inImage, DWF_IMAGE: `${IMAGE}:${"0".repeat(64)}` });
      expect(wrong.code).toBe(0);
      expect(wrong.stderr).toContain("remote cache: test:unit [custom]: local only: host tool");
      expect(wrong.stdout).not.toContain("(remote)");
      // Nor one without CI=true: its tasks would not see what a container's see.
      const noCi = await verify(project.clone(), ["--verbose"], { ...inImage, CI: undefined });
      expect(noCi.code).toBe(0);
      expect(noCi.stderr).toContain("remote cache: test:unit [custom]: local only: host tool");
      expect(noCi.stdout).not.toContain("(remote)");
    },
    SLOW,
  );

  test(
    "host tasks stay local and say so in --verbose; no PUT for them",
    async () => {
      const project = repo(`host-${ID}`);
      const puts = count(server.requests(), "PUT ");
      const r = await verify(project.origin, ["--profile", "host", "--verbose"]);
      expect(r.code).toBe(0);
      expect(r.stderr).toContain("remote cache: build:debug [custom]: local only: host tool");
      expect(r.stderr).toContain("remote cache: test:unit [custom]: local only: host tool");
      expect(count(server.requests(), "PUT ")).toBe(puts);
    },
    SLOW,
  );

  /** A host-profile git repository with these files and the remote cache configured, and a way to clone it elsewhere. */
  function hostRepo(files: Record<string, string>, targets: string[]) {
    const origin = fixture(
      {
        ...files,
        "devflow.toml": `[runtime]\nprofile = "host"\n\n[targets]\npr = ${JSON.stringify(targets)}\n\n[cache.remote]\nurl = "${server.url}"\nteam = "${TEAM}"\n`,
      },
      { git: true },
    );
    return {
      origin,
      clone(): string {
        const dir = join(fixture({}), `clone-${Math.random().toString(36).slice(2, 6)}`);
        const r = Bun.spawnSync(["git", "clone", "-q", origin, dir]);
        if (r.exitCode !== 0) throw new Error(r.stderr.toString());
        return dir;
      },
    };
  }
  const version = (argv: string[]) => Bun.spawnSync(argv).stdout.toString().trim();
  const NODE = version(["node", "--version"]).replace(/^v/, "");
  const NPM = version(["npm", "--version"]);
  function nodeFiles(marker: string, pins: { nvmrc?: string; npm?: string }): Record<string, string> {
    const pkg = {
      name: "pinned",
      version: "1.0.0",
      ...(pins.npm ? { packageManager: `npm@${pins.npm}` } : {}),
      scripts: {
        build: `node -e "require('fs').mkdirSync('dist',{recursive:true});require('fs').writeFileSync('dist/app.txt','${marker}')"`,
        test: "node -e \"console.log(require('fs').readFileSync('dist/app.txt','utf8'))\"",
      },
    };
    return {
      "package.json": JSON.stringify(pkg, null, 2),
      ".gitignore": "dist/\n",
      ...(pins.nvmrc ? { ".nvmrc": `${pins.nvmrc}\n` } : {}),
    };
  }

  test(
    "host tasks whose tool matches an exact pin (.nvmrc + packageManager, real node and npm) are shared; --explain says so",
    async () => {
      const project = hostRepo(nodeFiles(`node-pinned-${ID}`, { nvmrc: `v${NODE}`, npm: NPM }), ["build:debug", "test:unit"]);
      const puts = count(server.requests(), "PUT /v8/artifacts/");
      const first = await verify(project.origin, ["--explain"]);
      expect(first.code).toBe(0);
      expect(first.stderr).toContain(`build:debug [node] key`);
      expect(first.stderr).toContain(`shared: host tool pinned by .nvmrc (${NODE}) and package.json (${NPM})`);
      expect(count(server.requests(), "PUT /v8/artifacts/") - puts).toBe(2);

      const clone = project.clone();
      const second = await statuses(clone);
      expect(second.tasks).toEqual({ "build:debug": "cached (remote)", "test:unit": "cached (remote)" });
      expect(readFileSync(join(clone, "dist/app.txt"), "utf8")).toBe(`node-pinned-${ID}`);
      expect(warnings(second.r)).toEqual([]);
    },
    SLOW,
  );

  test(
    "a pin the host tool does not match, one that is not exact, or none: local only, said per task, nothing uploaded",
    async () => {
      const puts = count(server.requests(), "PUT ");
      const mismatch = hostRepo(nodeFiles(`node-mismatch-${ID}`, { nvmrc: "18.0.0", npm: NPM }), ["build:debug"]);
      const a = await verify(mismatch.origin, ["--explain"]);
      expect(a.code).toBe(0);
      expect(a.stderr).toMatch(
        new RegExp(
          `build:debug \\[node\\] key [0-9a-f]{12}: local only: host tool \\S+/npm reports 'v${NODE.replaceAll(".", "\\.")}', \\.nvmrc pins 18\\.0\\.0`,
        ),
      );
      const loose = hostRepo(nodeFiles(`node-loose-${ID}`, { nvmrc: "20", npm: NPM }), ["build:debug"]);
      const b = await verify(loose.origin, ["--explain"]);
      expect(b.stderr).toContain("is pinned by .nvmrc to '20', not an exact version");
      const none = hostRepo(nodeFiles(`node-none-${ID}`, {}), ["build:debug"]);
      const c = await verify(none.origin, ["--explain"]);
      expect(c.stderr).toMatch(/build:debug \[node\] key [0-9a-f]{12}: local only: host tool \S+\/npm is not pinned/);
      expect(count(server.requests(), "PUT ")).toBe(puts);
      // Another clone of the mismatched one gets nothing from the server.
      expect((await statuses(mismatch.clone())).tasks).toEqual({ "build:debug": "passed" });
    },
    SLOW,
  );

  test(
    "rust: cargo reporting the version rust-toolchain.toml pins shares fmt:check and build:debug (target/debug restored)",
    async () => {
      const cargo = version(["cargo", "--version"]);
      const pinned = /^cargo (\d+\.\d+\.\d+)/.exec(cargo)?.[1];
      expect(pinned).toBeDefined();
      const manifest = `[package]\nname = "pinned"\nversion = "0.1.0"\nedition = "2021"\n`;
      // Committed, as it should be: a build that writes Cargo.lock into the tree is not cached.
      const lockDir = fixture({ "Cargo.toml": manifest, "src/main.rs": "fn main() {}\n" });
      expect(Bun.spawnSync(["cargo", "generate-lockfile", "--offline"], { cwd: lockDir }).exitCode).toBe(0);
      const project = hostRepo(
        {
          "Cargo.toml": manifest,
          "Cargo.lock": readFileSync(join(lockDir, "Cargo.lock"), "utf8"),
          "src/main.rs": `fn main() {\n    println!("rust-pinned-${ID}");\n}\n`,
          "rust-toolchain.toml": `[toolchain]\nchannel = "${pinned}"\n`,
          ".gitignore": "target/\n",
        },
        ["fmt:check", "build:debug"],
      );
      // This machine's rustup has the release installed as "stable": name it for the pinned file too.
      const env = { RUSTUP_TOOLCHAIN: "stable" };
      const first = await verify(project.origin, ["--explain"], env);
      expect(first.code).toBe(0);
      expect(first.stderr).toContain(`build:debug [rust] key`);
      expect(first.stderr).toContain(`shared: host tool pinned by rust-toolchain.toml (${pinned})`);
      const clone = project.clone();
      const second = await statuses(clone, [], env);
      expect(second.tasks).toEqual({ "fmt:check": "cached (remote)", "build:debug": "cached (remote)" });
      expect(Bun.spawnSync([join(clone, "target/debug/pinned")]).stdout.toString()).toBe(`rust-pinned-${ID}\n`);

      // A channel is no exact version: local only, and said so.
      writeFileSync(join(clone, "rust-toolchain.toml"), `[toolchain]\nchannel = "stable"\n`);
      const loose = await verify(clone, ["--explain"], env);
      expect(loose.stderr).toContain("is pinned by rust-toolchain.toml to 'stable', not an exact version");
    },
    SLOW,
  );

  test("a token in devflow.toml is refused with exit 2, naming the key and where the token goes", async () => {
    const project = repo(`token-in-file-${ID}`, { extra: "" });
    const toml = join(project.origin, "devflow.toml");
    writeFileSync(toml, readFileSync(toml, "utf8").replace(`team = "${TEAM}"`, `team = "${TEAM}"\ntoken = "oops"`));
    const r = await verify(project.origin);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("cache.remote.token: secrets never go in devflow.toml");
    expect(r.stderr).toContain("DWF_REMOTE_CACHE_TOKEN");
    expect(r.stderr).not.toContain("oops");
  });
});
