// Planning installs (pipeline.ts + deps.ts) without running anything: which stacks get a
// setup:deps first, with which reason and edges, and what the switches change.
import { afterEach, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadProject, prepare } from "../../../src/core/prepare.ts";
import { extensionSource } from "../../../src/cli/wiring.ts";
import { hashInputs, recordPath, RECORD_VERSION } from "../../../src/core/deps.ts";

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const MANIFEST = JSON.stringify({ name: "x", scripts: { test: "mocha", lint: "eslint ." }, devDependencies: { mocha: "^10" } });

function project(files: Record<string, string>): string {
  const root = mkdtempSync(join(tmpdir(), "dwf-deps-plan-"));
  dirs.push(root);
  for (const [rel, body] of Object.entries(files)) {
    mkdirSync(join(root, rel, ".."), { recursive: true });
    writeFileSync(join(root, rel), body);
  }
  return root;
}

const env = (root: string) => ({ ...process.env, DWF_CACHE_ROOT: join(root, ".cache") });

async function plan(root: string, opts: { auto?: boolean; command?: string; runtime?: "host" | "container" } = {}) {
  const [primary, selector] = (opts.command ?? "check:pr").split(":") as [string, string];
  const runtime = opts.runtime ?? "host";
  const project = await loadProject({ cwd: root, runtime, env: env(root), extensions: extensionSource });
  return prepare({ cwd: root, project, commands: [{ primary, selector }], runtime, env: env(root), deps: { auto: opts.auto ?? true } });
}

describe("planning installs", () => {
  test("a stack with missing dependencies gets setup:deps first, every other task of the stack after it", async () => {
    const root = project({
      "package.json": MANIFEST,
      "package-lock.json": "{}",
      "devflow.toml": '[targets]\npr = ["lint:static", "test:unit"]\n',
    });
    const p = await plan(root);
    expect(p.tasks.map((t) => t.task.id)).toEqual(["setup:deps@node", "lint:static@node", "test:unit@node"]);
    expect(p.tasks[0]!.task.reason).toBe("node_modules missing");
    expect([p.tasks[0]!.action!.program, ...p.tasks[0]!.action!.args]).toEqual(["npm", "ci"]);
    expect(p.tasks[0]!.install).toMatchObject({ stack: "node", automatic: true, environment: `host:${process.platform}-${process.arch}` });
    for (const t of p.tasks.slice(1)) expect(t.task.deps[0]).toBe("setup:deps@node");
    expect(p.plan.tasks[0]!.id).toBe("setup:deps@node");
    expect(p.dependencies).toEqual([
      {
        stack: "node",
        inputs: ["package.json", "package-lock.json"],
        paths: ["node_modules"],
        install: true,
        reason: "node_modules missing",
      },
    ]);
  });

  test("an install recorded for this runtime and these inputs adds nothing; another runtime does", async () => {
    const root = project({
      "package.json": MANIFEST,
      "package-lock.json": "{}",
      "node_modules/.keep": "",
      "devflow.toml": '[targets]\npr = ["test:unit"]\n',
    });
    const record = recordPath(join(root, ".cache"), root, "node");
    mkdirSync(join(record, ".."), { recursive: true });
    const write = (environment: string) =>
      writeFileSync(
        record,
        JSON.stringify({
          version: RECORD_VERSION,
          stack: "node",
          environment,
          inputs: hashInputs(root, ["package.json", "package-lock.json"]),
          paths: ["node_modules"],
          installedAt: "",
          durationMs: 1,
        }),
      );
    write(`host:${process.platform}-${process.arch}`);
    const fresh = await plan(root);
    expect(fresh.tasks.map((t) => t.task.id)).toEqual(["test:unit@node"]);
    expect(fresh.tasks[0]!.task.deps).toEqual([]);
    expect(fresh.dependencies).toEqual([
      { stack: "node", inputs: ["package.json", "package-lock.json"], paths: ["node_modules"], install: false, reason: undefined },
    ]);
    write("container:0123");
    expect((await plan(root)).tasks[0]!.task.reason).toBe("installed in a container, this run is on the host");
  });

  test("a dwf inside a container installs for the image DWF_IMAGE claims, else for neither host nor image", async () => {
    const root = project({ "package.json": MANIFEST, "devflow.toml": '[targets]\npr = ["test:unit"]\n' });
    const inside = async (extra: Record<string, string>) => {
      const e = { ...env(root), DWF_IN_CONTAINER: "1", ...extra };
      const project = await loadProject({ cwd: root, runtime: "host", env: e, extensions: extensionSource });
      return prepare({
        cwd: root,
        project,
        commands: [{ primary: "check", selector: "pr" }],
        runtime: "host",
        env: e,
        deps: { auto: true },
      });
    };
    const outside = (await plan(root, { runtime: "container" })).tasks[0]!.install!.environment;
    expect(outside).toMatch(/^container:[0-9a-f]{64}$/);
    expect((await inside({ DWF_IMAGE: `ghcr.io/acme/x-ci:${outside.slice("container:".length)}` })).tasks[0]!.install!.environment).toBe(
      outside,
    );
    expect((await inside({})).tasks[0]!.install!.environment).toBe(`in-container:${process.platform}-${process.arch}`);
    expect((await inside({ DWF_IMAGE: "ghcr.io/acme/x-ci:0000" })).tasks[0]!.install!.environment).toBe(
      `in-container:${process.platform}-${process.arch}`,
    );
  });

  test("with automatic installs off the plan only notes why it would install", async () => {
    const root = project({ "package.json": MANIFEST, "devflow.toml": '[targets]\npr = ["test:unit"]\n' });
    const p = await plan(root, { auto: false });
    expect(p.tasks.map((t) => t.task.id)).toEqual(["test:unit@node"]);
    expect(p.dependencies).toMatchObject([{ stack: "node", install: false, disabled: true, reason: "node_modules missing" }]);
  });

  test("setup:deps asked for by name runs whatever the record says, and is recorded", async () => {
    const root = project({ "package.json": MANIFEST });
    const p = await plan(root, { command: "setup:deps", auto: false });
    expect(p.tasks.map((t) => t.task.id)).toEqual(["setup:deps@node"]);
    expect(p.tasks[0]!.install).toMatchObject({ automatic: false });
    expect([p.tasks[0]!.action!.program, ...p.tasks[0]!.action!.args]).toEqual(["npm", "install"]);
  });

  test("nothing to install, nothing that runs, or no setup:deps capability: no install", async () => {
    const none = project({ "package.json": JSON.stringify({ scripts: { test: "node t.js" } }) });
    expect((await plan(none)).tasks.map((t) => t.task.id)).not.toContain("setup:deps@node");
    // Every task of the stack is skipped (no scripts): an install would serve nothing.
    const idle = project({ "package.json": JSON.stringify({ devDependencies: { a: "1" } }) });
    const p = await plan(idle);
    expect(p.tasks.every((t) => t.task.id !== "setup:deps@node" && t.skip)).toBe(true);
    const overridden = project({
      "package.json": MANIFEST,
      "devflow.toml": '[extensions.node]\ncapabilities = ["test"]\n[targets]\npr = ["test:unit"]\n',
    });
    expect((await plan(overridden)).tasks.map((t) => t.task.id)).toEqual(["test:unit@node"]);
  });

  test("two stacks install independently", async () => {
    const root = project({ "package.json": MANIFEST, "requirements.txt": "pytest\n", "devflow.toml": '[targets]\npr = ["test:unit"]\n' });
    const p = await plan(root);
    expect(
      p.tasks
        .filter((t) => t.install)
        .map((t) => t.task.id)
        .sort(),
    ).toEqual(["setup:deps@node", "setup:deps@python"]);
    expect(p.tasks.find((t) => t.task.id === "test:unit@python")!.task.deps).toEqual(["setup:deps@python"]);
  });
});
