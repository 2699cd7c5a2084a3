// Bun stack: package.json scripts through `bun run`, with `bun test` as the unit-test fallback
// and Biome for formatting and linting when the project configures it.
// Applies when a Bun lockfile sits beside package.json.
import type { CommandRef, Extension, ExtensionContext, ToolPin } from "../../src/sdk/types.ts";
import { formatRef } from "../../src/sdk/command-ref.ts";
import {
  DEBIAN_BASE,
  biomeArgs,
  biomeProgram,
  biomeTool,
  declaresDependencies,
  defaultCacheable,
  existingFiles,
  firstFile,
  firstLine,
  isFile,
  missingScript,
  packageManagerPin,
  packageScripts,
  pickScript,
  pinnedVersion,
  run,
  scriptCandidates,
} from "../shared.ts";
import { IMAGE_HOME } from "../../src/sdk/image.ts";

const BUN_VERSION = "1.4.5";
const LOCKFILES = ["bun.lock", "bun.lockb"];

function detect(ctx: ExtensionContext): boolean {
  return isFile(ctx.root, "package.json") && firstFile(ctx.root, LOCKFILES) !== undefined;
}

function buildAction(ref: CommandRef, ctx: ExtensionContext) {
  const key = formatRef(ref);
  if (key === "setup:deps") {
    const locked = firstFile(ctx.root, LOCKFILES) !== undefined;
    return run("bun", locked ? ["install", "--frozen-lockfile"] : ["install"]);
  }
  const candidates = scriptCandidates(ref);
  const script = pickScript(packageScripts(ctx.root), candidates);
  if (script) return run("bun", ["run", script]);
  // A Biome configuration says how the project formats and lints when no script says otherwise.
  const biome = biomeArgs(ref, ctx.root);
  if (biome) return run(biomeProgram(ctx.root), biome);
  // Bun has a test runner built in, so a project needs no script to have unit tests.
  if (key === "test:unit") return run("bun", ["test"]);
  return missingScript(candidates);
}

/** .bun-version, else packageManager `bun@x.y.z` in package.json. */
function toolPins(program: string, ctx: ExtensionContext): ToolPin[] | undefined {
  if (program !== "bun") return undefined;
  const fromFile = pinnedVersion(firstLine(ctx.root, ".bun-version"));
  const version = fromFile ?? packageManagerPin(ctx.root, "bun");
  return version ? [{ file: fromFile ? ".bun-version" : "package.json", version, probe: ["bun", "--version"] }] : undefined;
}

export const bun: Extension = {
  name: "bun",
  description: "Bun projects (package.json scripts via bun run, bun test)",
  detect,
  capabilities: () => ["setup:deps", "fmt", "lint", "build", "test", "package"],
  buildAction,
  // Bun installs into node_modules from its global cache; bun.lock is what it writes when absent.
  dependencies: (ctx) =>
    declaresDependencies(ctx.root)
      ? {
          inputs: ["package.json", firstFile(ctx.root, LOCKFILES) ?? "bun.lock", ...existingFiles(ctx.root, ["bunfig.toml"])],
          paths: ["node_modules"],
        }
      : undefined,
  cacheMounts: () => [{ path: "install", container: `${IMAGE_HOME}/.bun/install/cache`, env: "BUN_INSTALL_CACHE_DIR" }],
  env: () => ({}),
  // Toolchain pins only; the lockfile keys the installed modules, not the image.
  fingerprintInputs: (ctx) => [...existingFiles(ctx.root, [".bun-version"]), "package.json#json=packageManager"],
  toolPins,
  machineEnv: ["BUN_INSTALL"],
  taskInputs: () => undefined,
  cacheable: defaultCacheable,
  tools: (ctx) => {
    const biome = biomeTool(ctx.root, [biomeProgram(ctx.root)]);
    return [{ name: "bun", version: ["bun", "--version"], install: "curl -fsSL https://bun.sh/install | bash" }, ...(biome ? [biome] : [])];
  },
  dockerfile: () => ({
    base: DEBIAN_BASE,
    install: [`curl -fsSL https://bun.sh/install | BUN_INSTALL=/usr/local bash -s "bun-v${BUN_VERSION}"`],
  }),
};
