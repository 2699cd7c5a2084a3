// The install record and lock (src/core/deps.ts): why an install is due, what a record must
// hold to be trusted, what an extension may name, and that two holders never overlap.
import { afterEach, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  hashInputs,
  lockPath,
  readRecord,
  recordPath,
  staleReason,
  withInstallLock,
  writeRecord,
  type InstallGuard,
  type InstallRecord,
} from "../../../src/core/deps.ts";
import { UserError } from "../../../src/lib/errors.ts";
import { validateDependencySpec } from "../../../src/sdk/dependencies.ts";
import type { Extension } from "../../../src/sdk/types.ts";

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function tree(files: Record<string, string>): string {
  const root = mkdtempSync(join(tmpdir(), "dwf-deps-"));
  dirs.push(root);
  for (const [rel, body] of Object.entries(files)) {
    if (rel.endsWith("/")) mkdirSync(join(root, rel), { recursive: true });
    else writeFileSync(join(root, rel), body);
  }
  return root;
}

const spec = { inputs: ["manifest.json", "manifest.lock"], paths: ["modules"] };
const HOST = "host:linux-x64";

function record(root: string, environment = HOST): InstallRecord {
  return { version: 1, stack: "s", environment, inputs: hashInputs(root, spec.inputs), paths: spec.paths, installedAt: "", durationMs: 1 };
}

describe("staleReason", () => {
  test("missing folders come first, then no record, then another runtime, then changed inputs", () => {
    const root = tree({ "manifest.json": "{}", "manifest.lock": "1" });
    expect(staleReason(root, spec, undefined, HOST)).toBe("modules missing");
    mkdirSync(join(root, "modules"));
    expect(staleReason(root, spec, undefined, HOST)).toBe("modules not installed by dwf yet");
    const r = record(root);
    expect(staleReason(root, spec, r, HOST)).toBeUndefined();
    expect(staleReason(root, spec, r, "container:abc")).toBe("installed on the host, this run is in a container");
    expect(staleReason(root, spec, record(root, "container:abc"), "container:def")).toBe(
      "the container image changed since the last install",
    );
    writeFileSync(join(root, "manifest.lock"), "2");
    expect(staleReason(root, spec, r, HOST)).toBe("manifest.lock changed");
    writeFileSync(join(root, "manifest.json"), "{ }");
    expect(staleReason(root, spec, r, HOST)).toBe("manifest.json and manifest.lock changed");
  });

  test("a lockfile that appears or disappears is named as such", () => {
    const root = tree({ "manifest.json": "{}", "modules/": "" });
    const r = record(root);
    writeFileSync(join(root, "manifest.lock"), "1");
    expect(staleReason(root, spec, r, HOST)).toBe("manifest.lock added");
    const r2 = record(root);
    rmSync(join(root, "manifest.lock"));
    expect(staleReason(root, spec, r2, HOST)).toBe("manifest.lock removed");
  });

  test("without workspace paths only the inputs decide", () => {
    const root = tree({ "manifest.json": "{}" });
    const s = { inputs: ["manifest.json"], paths: [] };
    expect(staleReason(root, s, undefined, HOST)).toBe("not installed by dwf yet");
    const r = { ...record(root), inputs: hashInputs(root, s.inputs), paths: [] };
    expect(staleReason(root, s, r, HOST)).toBeUndefined();
  });
});

describe("the record", () => {
  test("is written after an install with the inputs as they are then, and read back only when it is whole", async () => {
    const root = tree({ "manifest.json": "{}", "modules/": "" });
    const cacheRoot = join(root, ".cache");
    let asked = 0;
    const ext: Extension = {
      name: "s",
      description: "",
      detect: () => true,
      capabilities: () => [],
      buildAction: () => ({ skip: "" }),
      // The install wrote the lockfile: the record hashes what is there afterwards.
      dependencies: () => (asked++, spec),
    };
    const guard: InstallGuard = {
      stack: "s",
      ext,
      ctx: { root, env: {}, which: () => null },
      root,
      cacheRoot,
      spec,
      environment: HOST,
      recordPath: recordPath(cacheRoot, root, "s"),
      lockPath: lockPath(cacheRoot, root, "s"),
      automatic: true,
    };
    writeFileSync(join(root, "manifest.lock"), "written by the install");
    await writeRecord(guard, 1234);
    expect(asked).toBe(1);
    expect(existsSync(join(cacheRoot, "CACHEDIR.TAG"))).toBe(true);
    const r = readRecord(guard.recordPath, "s")!;
    expect(r.durationMs).toBe(1234);
    expect(staleReason(root, spec, r, HOST)).toBeUndefined();
    // Another stack's record, or a damaged one, is no record.
    expect(readRecord(guard.recordPath, "other")).toBeUndefined();
    writeFileSync(guard.recordPath, "{ half");
    expect(readRecord(guard.recordPath, "s")).toBeUndefined();
  });

  test("records of two trees sharing a cache root do not collide", () => {
    expect(recordPath("/c", "/a", "node")).not.toBe(recordPath("/c", "/b", "node"));
    expect(recordPath("/c", "/a", "node")).not.toBe(recordPath("/c", "/a", "python"));
  });
});

describe("validateDependencySpec", () => {
  test("keeps paths inside the project and names what is wrong", () => {
    expect(validateDependencySpec({ inputs: ["a.lock", "./a.lock"], paths: ["mods/"] }, "x")).toEqual({
      inputs: ["a.lock"],
      paths: ["mods/"],
    });
    const bad = (v: unknown) => {
      try {
        validateDependencySpec(v, "x");
      } catch (e) {
        expect(e).toBeInstanceOf(UserError);
        return (e as Error).message;
      }
      throw new Error("accepted");
    };
    expect(bad({ inputs: ["../up"], paths: [] })).toContain(`'inputs' holds "../up"`);
    expect(bad({ inputs: ["a"], paths: ["/abs"] })).toContain(`'paths' holds "/abs"`);
    expect(bad({ inputs: [], paths: [] })).toContain("'inputs' is empty");
    expect(bad({ inputs: "a" })).toContain("'inputs' must be a list");
    expect(bad([])).toContain("expected an object");
    expect(bad({ inputs: ["a"], paths: ["."] })).toContain(`'paths' holds "."`);
  });
});

describe("withInstallLock", () => {
  test("a second holder waits until the first is done", async () => {
    const root = tree({});
    const path = join(root, "deps", "s.lock");
    const order: string[] = [];
    const signal = new AbortController().signal;
    let release!: () => void;
    const first = withInstallLock(path, "s", signal, async () => {
      order.push("first in");
      await new Promise<void>((r) => (release = r));
      order.push("first out");
    });
    await Bun.sleep(20);
    const second = withInstallLock(path, "s", signal, async () => void order.push("second in"));
    await Bun.sleep(450);
    expect(order).toEqual(["first in"]);
    release();
    await Promise.all([first, second]);
    expect(order).toEqual(["first in", "first out", "second in"]);
    expect(existsSync(path)).toBe(false);
  });

  test("a lock left by a process that is gone is taken over; waiting can be interrupted", async () => {
    const root = tree({ "deps/": "" });
    const path = join(root, "deps", "s.lock");
    const dead = Bun.spawnSync(["true"]).pid;
    writeFileSync(
      path,
      JSON.stringify({ pid: dead, host: (await import("node:os")).hostname(), token: "t", started: new Date().toISOString() }),
    );
    expect(await withInstallLock(path, "s", new AbortController().signal, async () => "ran")).toBe("ran");

    writeFileSync(
      path,
      JSON.stringify({ pid: process.pid, host: (await import("node:os")).hostname(), token: "mine", started: new Date().toISOString() }),
    );
    const abort = new AbortController();
    setTimeout(() => abort.abort(), 100);
    await expect(withInstallLock(path, "s", abort.signal, async () => "ran")).rejects.toThrow("interrupted");
    // Someone else's lock is left alone.
    expect(existsSync(path)).toBe(true);
  });
});
