// The extension contract over every builtin stack (as extensions/index.ts lists them) and over
// external extensions (test/fixtures/devflow-ext-demo and the README's example, loaded by the
// real subprocess loader);
// then the contract itself: each case, given an extension broken in its one way, must reject.
import { afterEach, describe, expect, test } from "bun:test";
import { join } from "node:path";
import type { Extension } from "../../../src/sdk/types.ts";
import { builtinExtensions } from "../../../extensions/index.ts";
import { loadExternalExtension } from "../../../extensions/external/protocol.ts";
import { run, skip } from "../../../extensions/shared.ts";
import { ContractViolation, contractCases, extensionContract, type ContractSubject } from "./contract.ts";
import { cleanup, ctx, project, ref } from "./helpers.ts";

const every = {
  "fmt:check": "x",
  "fmt:fix": "x",
  "lint:static": "x",
  "lint:fix": "x",
  "build:debug": "x",
  "build:release": "x",
  "test:unit": "x",
  "test:integration": "x",
  "test:smoke": "x",
  "test:all": "x",
  package: "x",
};
const manifest = (extra: Record<string, unknown> = {}) =>
  JSON.stringify({ name: "x", scripts: every, devDependencies: { mocha: "^10" }, ...extra });
const makeTargets = Object.entries({
  setup: ["deps"],
  fmt: ["check", "fix"],
  lint: ["static", "fix"],
  build: ["debug", "release"],
  test: ["unit", "integration", "smoke", "all"],
  package: ["artifact"],
  release: ["candidate"],
})
  .flatMap(([p, sels]) => sels.map((s) => `${p}-${s}:\n\ttrue\n`))
  .join("");

/** For each builtin: a project in which every command it lists has something to run, and its marker files. */
const BUILTIN_FIXTURES: Record<string, Omit<ContractSubject, "name" | "load" | "detection" | "image">> = {
  rust: {
    fixture: {
      "Cargo.toml": '[package]\nname = "x"\nversion = "0.1.0"\n\n[dependencies]\nserde = "1"\n',
      "Cargo.lock": '[[package]]\nname = "serde"\nversion = "1.0.0"\nsource = "registry+x"\n',
      "src/lib.rs": "",
      "tests/it.rs": "",
    },
    marker: { "Cargo.toml": "" },
  },
  node: { fixture: { "package.json": manifest(), "package-lock.json": "{}" }, marker: { "package.json": "{}" } },
  bun: { fixture: { "package.json": manifest(), "bun.lock": "" }, marker: { "package.json": "{}", "bun.lock": "" } },
  python: {
    fixture: {
      "pyproject.toml": "[project]\nname = 'x'\n[project.optional-dependencies]\ntest = ['pytest']\n",
      "requirements.txt": "pytest\n",
      "tests/unit/": "",
      "tests/integration/": "",
    },
    onPath: ["python", "ruff"],
    marker: { "requirements.txt": "" },
  },
  go: { fixture: { "go.mod": "module x\n\ngo 1.22\n\nrequire example.com/a v1.0.0\n", "go.sum": "" }, marker: { "go.mod": "module x\n" } },
  custom: { fixture: { Makefile: makeTargets }, marker: { Makefile: "" } },
};

const builtinSubject = (ext: Extension): ContractSubject => ({
  name: ext.name,
  load: () => ext,
  detection: "marker",
  image: true,
  // The Makefile/justfile stack keeps no install of its own.
  installs: ext.name !== "custom",
  ...BUILTIN_FIXTURES[ext.name]!,
});

const DEMO = join(import.meta.dir, "../../fixtures/devflow-ext-demo");

afterEach(cleanup);

const demoSubject: ContractSubject = {
  name: "demo",
  load: (ctx) => loadExternalExtension("demo", { path: DEMO }, ctx, { file: "devflow.toml" }),
  fixture: { "demo.toml": "", "demo.lock": "", "tests/": "", "tools/demo": "" },
  detection: "configured",
  installs: true,
};

/** The example the README points extension authors to: it must keep the contract too. */
const EXAMPLE = join(import.meta.dir, "../../../examples/devflow-ext-python-example");
const exampleSubject: ContractSubject = {
  name: "python-example",
  load: (ctx) => loadExternalExtension("python-example", { path: EXAMPLE }, ctx, { file: "devflow.toml" }),
  fixture: { "requirements.txt": "", "scripts/check-format": "", "tests/integration/": "" },
  detection: "configured",
};

describe("every builtin stack has a contract fixture", () => {
  test.each(builtinExtensions.map((e) => e.name))("%s", (name) => {
    expect(Object.keys(BUILTIN_FIXTURES)).toContain(name);
  });
});

for (const ext of builtinExtensions) if (BUILTIN_FIXTURES[ext.name]) extensionContract(builtinSubject(ext));
extensionContract(demoSubject);
extensionContract(exampleSubject);

describe("the external extension is what the subprocess loader made of the demo's answers", () => {
  test("capabilities from --describe, actions from --build-action, a decline is a skip naming the command", async () => {
    const root = project(demoSubject.fixture);
    const c = ctx(root);
    const ext = await demoSubject.load(c);
    expect(ext.description).toBe(`external extension ${DEMO} (api_version 1)`);
    expect(await ext.capabilities(c)).toEqual(["setup:deps", "lint:static", "build", "test"]);
    expect(await ext.buildAction(ref("setup:deps"), c)).toEqual({ action: { program: "./tools/demo", args: ["install", "--locked"] } });
    expect(await ext.buildAction(ref("test:unit"), c)).toEqual({ action: { program: "demo", args: ["test", "--unit"], cwd: "tests" } });
    expect(await ext.cacheMounts!(c)).toEqual([{ path: "downloads", container: "/home/dwf/.cache/demo", env: "DEMO_CACHE" }]);
    expect(await ext.dependencies!(c)).toEqual({ inputs: ["demo.lock"], paths: ["vendor/demo"] });
    const declined = await ext.buildAction(ref("test:nonesuch"), c);
    expect("skip" in declined && declined.skip).toMatch(/^demo declined test:nonesuch \(exit 1\): demo: no command for/);
  });

  test("task outputs, tool pins, machine variables and warm actions from --describe and --warm-action", async () => {
    const root = project(demoSubject.fixture);
    const c = ctx(root);
    const ext = await demoSubject.load(c);
    // A bare primary's outputs hold for every selector, added to the selector's own.
    expect(ext.taskOutputs!(ref("build:debug"), c)).toEqual(["dist"]);
    expect(ext.taskOutputs!(ref("build:release"), c)).toEqual(["dist", "dist/release.txt"]);
    expect(ext.taskOutputs!(ref("test:unit"), c)).toEqual(["reports/unit"]);
    expect(ext.taskOutputs!(ref("test:smoke"), c)).toEqual([]);
    // The pinned version as the builtins give it: without a leading 'v'.
    expect(ext.toolPins!("demo", c)).toEqual([{ file: "demo.toml", version: "1.4.2", probe: ["demo", "--version"] }]);
    expect(ext.toolPins!("make", c)).toBeUndefined();
    expect(ext.toolPins!("constructor", c)).toBeUndefined();
    expect(ext.machineEnv).toEqual(["DEMO_HOME"]);
    expect(await ext.warmAction!(ref("lint:static"), c)).toEqual({ action: { program: "demo", args: ["lint", "--deps-only", "."] } });
    // Listed, but the extension answers null: nothing to warm. Not listed: not asked.
    expect(await ext.warmAction!(ref("build:release"), c)).toBeUndefined();
    expect(await ext.warmAction!(ref("test:unit"), c)).toBeUndefined();
  });
});

/**
 * One way to break an extension for each contract case. A case that cannot be made to fail
 * proves nothing, so every case needs one here.
 */
const go = builtinExtensions.find((e) => e.name === "go")!;
const BREAKAGES: Record<string, Partial<Extension>> = {
  identity: { name: "Go Stack" },
  capabilities: { capabilities: () => ["test:unit", "Test Unit"] },
  resolves: { buildAction: (ref, ctx) => (ref.selector === "unit" ? skip("not today") : go.buildAction(ref, ctx)) },
  actions: { buildAction: (ref, ctx) => (ref.selector === "static" ? run("", ["vet"]) : go.buildAction(ref, ctx)) },
  secrets: {
    buildAction: (ref, ctx) =>
      ref.selector === "unit" ? run("go", ["test"], { GO_AUTH: ctx.env.DWF_CONTRACT_TOKEN! }) : go.buildAction(ref, ctx),
  },
  "unknown-command": {
    buildAction: (ref, ctx) => {
      if (ref.selector === "nonesuchcontract") throw new TypeError("Cannot read properties of undefined (reading 'args')");
      return go.buildAction(ref, ctx);
    },
  },
  detect: { detect: () => true },
  "cache-mounts": { cacheMounts: () => [{ path: "/var/cache/go", container: "/home/dwf/go/pkg/mod", env: "GOMODCACHE" }] },
  fingerprint: { fingerprintInputs: () => ["../go.mod"] },
  dependencies: { dependencies: () => ({ inputs: ["go.mod", "go.work.sum"], paths: [] }) },
  outputs: { taskOutputs: () => ["/tmp/go-out"] },
  "tool-pins": { toolPins: () => [{ file: "/etc/go-version", version: "1.22.0", probe: ["go", "version"] }] },
  warm: { warmAction: (ref) => (ref.selector === "static" ? run("", ["vet"]) : undefined) },
  cacheable: { cacheable: () => true },
  "env-and-tools": { env: () => ({ "GO-FLAGS": "-v" }) },
  image: { dockerfile: undefined },
};

describe("each contract case rejects an extension broken its way", () => {
  const healthy = builtinSubject(go);
  const ids = contractCases(healthy).map((c) => c.id);

  test("every case has a breakage", () => {
    expect(Object.keys(BREAKAGES).sort()).toEqual([...ids].sort());
  });

  test.each(ids)("%s", async (id) => {
    const broken: Extension = { ...go, ...BREAKAGES[id] };
    const brokenSubject = { ...healthy, load: () => broken };
    const breaking = contractCases(brokenSubject).find((c) => c.id === id)!;
    await expect(breaking.check()).rejects.toBeInstanceOf(ContractViolation);
    // The same case passes for the extension as shipped: the failure is the breakage's.
    await contractCases(healthy)
      .find((c) => c.id === id)!
      .check();
  });
});
