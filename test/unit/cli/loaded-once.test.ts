// One `dwf verify` reads devflow.toml once, resolves the extensions once and computes the image
// fingerprint once, whichever runtime it ends up on: the loaded project flows down from the
// verify flow to runtime selection, the container runner, install records and task-cache keys.
//
// The counts come from spies on the three functions that do the work (config read, registry
// resolution, image fingerprint inputs), with the real selection, runners and task cache. The
// container engine is a script named podman on PATH that answers as podman does and runs
// nothing; a fake stack gives the run a fingerprint input, installed dependencies and a task.
import { afterAll, afterEach, beforeAll, describe, expect, spyOn, test } from "bun:test";
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runTasks } from "../../../src/cli/verify-flow.ts";
import { taskCacheFactory } from "../../../src/cache/task-cache.ts";
import { parseCommandRef } from "../../../src/sdk/command-ref.ts";
import type { ExtensionSource } from "../../../src/core/registry.ts";
import type { Extension } from "../../../src/sdk/types.ts";
import * as config from "../../../src/core/config.ts";
import * as registry from "../../../src/core/registry.ts";
import * as fingerprint from "../../../src/core/fingerprint.ts";
import * as out from "../../../src/lib/out.ts";

const FAKE_PODMAN = `#!/bin/sh
# Answers as podman would; runs nothing. FAKE_IMAGE_PRESENT=1: the image is there.
echo "$*" >> "$FAKE_ENGINE_LOG"
case "$1" in
  version) echo 5.0.0 ;;
  image) [ "$FAKE_IMAGE_PRESENT" = 1 ] && echo sha256:0000 || { echo "image not known" >&2; exit 125; } ;;
  pull) echo "pull refused" >&2; exit 125 ;;
  *) ;;
esac
`;

const fakeStack: Extension = {
  name: "fake",
  description: "a stack of this test",
  detect: () => true,
  capabilities: () => ["test:unit", "setup:deps"],
  buildAction: () => ({ action: { program: "true", args: [] } }),
  fingerprintInputs: () => ["fake.lock"],
  dependencies: () => ({ inputs: ["fake.lock"], paths: ["deps"] }),
};
const extensions: ExtensionSource = {
  builtins: [fakeStack],
  loadExternal: () => Promise.reject(new Error("no external extension in this test")),
};

const dirs: string[] = [];
const saved = {
  PATH: process.env.PATH,
  CI: process.env.CI,
  DWF_CACHE_ROOT: process.env.DWF_CACHE_ROOT,
  FAKE_ENGINE_LOG: process.env.FAKE_ENGINE_LOG,
  FAKE_IMAGE_PRESENT: process.env.FAKE_IMAGE_PRESENT,
  DWF_ENGINE: process.env.DWF_ENGINE,
  DWF_PROFILE: process.env.DWF_PROFILE,
};

beforeAll(() => {
  process.env.CI = "true";
  delete process.env.DWF_ENGINE;
  delete process.env.DWF_PROFILE;
});
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
afterAll(() => {
  for (const [k, v] of Object.entries(saved)) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
});

function project(): string {
  const root = mkdtempSync(join(tmpdir(), "dwf-once-"));
  dirs.push(root);
  writeFileSync(join(root, "devflow.toml"), `[project]\nname = "once"\nstack = ["fake"]\n\n[container]\nimage = "localhost/once"\n`);
  writeFileSync(join(root, "fake.lock"), "v1\n");
  // What the test itself writes there is not the project's: it must not change the task keys.
  writeFileSync(join(root, ".gitignore"), "engine.log\n.cache-of-test/\n");
  mkdirSync(join(root, "bin"));
  writeFileSync(join(root, "bin/podman"), FAKE_PODMAN);
  chmodSync(join(root, "bin/podman"), 0o755);
  Bun.spawnSync(["git", "init", "-q", root]);
  return root;
}

interface Counted {
  exitCode: number;
  runtime: string;
  configReads: number;
  registryResolutions: number;
  fingerprints: number;
  engineCalls: string[];
}

async function verify(root: string, profile: string, imagePresent: boolean): Promise<Counted> {
  process.env.PATH = `${join(root, "bin")}:${saved.PATH}`;
  process.env.DWF_CACHE_ROOT = join(root, ".cache-of-test");
  process.env.FAKE_ENGINE_LOG = join(root, "engine.log");
  process.env.FAKE_IMAGE_PRESENT = imagePresent ? "1" : "0";
  writeFileSync(process.env.FAKE_ENGINE_LOG, "");
  const stdout: string[] = [];
  const spies = {
    config: spyOn(config, "loadConfig"),
    registry: spyOn(registry, "resolveRegistry"),
    fingerprint: spyOn(fingerprint, "fingerprintInputs"),
    out: spyOn(out, "writeStdout").mockImplementation((t: string) => void stdout.push(t)),
    err: spyOn(out, "writeStderr").mockImplementation(() => {}),
  };
  try {
    const exitCode = await runTasks(
      {
        cwd: root,
        commands: [parseCommandRef("test:unit")],
        title: "test:unit",
        profile,
        jobs: 1,
        failFast: false,
        dryRun: false,
        json: true,
        verbose: false,
        noCache: false,
      },
      { extensions, openCache: taskCacheFactory() },
    );
    const doc = JSON.parse(stdout.join(""));
    return {
      exitCode,
      runtime: doc.runtime,
      configReads: spies.config.mock.calls.length,
      registryResolutions: spies.registry.mock.calls.length,
      fingerprints: spies.fingerprint.mock.calls.length,
      engineCalls: (await Bun.file(process.env.FAKE_ENGINE_LOG).text())
        .split("\n")
        .filter(Boolean)
        .map((l) => l.split(" ")[0]!),
    };
  } finally {
    for (const s of Object.values(spies)) s.mockRestore();
  }
}

describe("one dwf verify loads the project once", () => {
  test("host: one config read, one registry resolution, no fingerprint and no engine", async () => {
    // On the host only a dwf inside a container asks the image fingerprint; nothing else needs it.
    const r = await verify(project(), "host", false);
    expect(r).toMatchObject({ exitCode: 0, runtime: "host", configReads: 1, registryResolutions: 1, fingerprints: 0 });
    expect(r.engineCalls).toEqual([]);
  });

  test("container: the selection, the runner, the install record and the task keys share one fingerprint", async () => {
    const r = await verify(project(), "container", true);
    expect(r).toMatchObject({ exitCode: 0, runtime: "container", configReads: 1, registryResolutions: 1, fingerprints: 1 });
    // The task itself went through the engine.
    expect(r.engineCalls).toContain("run");
  });

  test("container: a run whose every task is a cache hit asks the engine nothing", async () => {
    const root = project();
    const first = await verify(root, "container", true);
    expect(first.engineCalls).toContain("run");
    const second = await verify(root, "container", true);
    expect(second).toMatchObject({ exitCode: 0, runtime: "container", fingerprints: 1 });
    // No health check, no image lookup, no sweep of old containers: the results were all known.
    expect(second.engineCalls).toEqual([]);
  });

  test("auto with the image present: runs in the container, everything computed once", async () => {
    const r = await verify(project(), "auto", true);
    expect(r).toMatchObject({ exitCode: 0, runtime: "container", configReads: 1, registryResolutions: 1, fingerprints: 1 });
    expect(r.engineCalls).toContain("run");
  });

  test("auto falling back to the host: the project loaded under the container's (stricter) trust policy is reused", async () => {
    // The image is missing, cannot be pulled, and there is no Dockerfile.devflow to build it from.
    const r = await verify(project(), "auto", false);
    expect(r).toMatchObject({ exitCode: 0, runtime: "host", configReads: 1, registryResolutions: 1, fingerprints: 1 });
    expect(r.engineCalls).not.toContain("run");
  });
});
