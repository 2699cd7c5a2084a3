// Node.js stack: runs package.json scripts through the package manager the lockfile names, and
// Biome for formatting and linting when the project configures it and has no script for them.
// Projects whose only lockfile is Bun's belong to the bun extension instead.
import type { CacheMount, CommandRef, DependencySpec, Extension, ExtensionContext, ToolPin, ToolRequirement } from "../../src/sdk/types.ts";
import { formatRef } from "../../src/sdk/command-ref.ts";
import {
  DEBIAN_BASE,
  biomeArgs,
  biomeProgram,
  biomeTool,
  defaultCacheable,
  declaresDependencies,
  existingFiles,
  firstLine,
  isFile,
  missingScript,
  packageManagerPin,
  packageScripts,
  pickScript,
  pinnedVersion,
  readJsonObject,
  readText,
  run,
  scriptCandidates,
} from "../shared.ts";
import { IMAGE_HOME } from "../../src/sdk/image.ts";

const NODE_VERSION = "22.12.0";
const COREPACK_VERSION = "0.31.0";

type PackageManager = "npm" | "pnpm" | "yarn" | "bun";

/** Lockfile → package manager, in the order ties are broken. */
const LOCKFILES: readonly (readonly [string, PackageManager])[] = [
  ["package-lock.json", "npm"],
  ["npm-shrinkwrap.json", "npm"],
  ["pnpm-lock.yaml", "pnpm"],
  ["yarn.lock", "yarn"],
  ["bun.lock", "bun"],
  ["bun.lockb", "bun"],
];

const BUN_LOCKFILES = ["bun.lock", "bun.lockb"];

interface PackageManagerChoice {
  pm: PackageManager;
  lockfile?: string;
}

function detectPackageManager(root: string): PackageManagerChoice {
  for (const [lockfile, pm] of LOCKFILES) if (isFile(root, lockfile)) return { pm, lockfile };
  // Without a lockfile, corepack's `packageManager` field is the project's stated choice.
  const declared = readJsonObject(root, "package.json")?.packageManager;
  if (typeof declared === "string") {
    const name = declared.split("@")[0];
    if (name === "pnpm" || name === "yarn" || name === "npm" || name === "bun") return { pm: name };
  }
  return { pm: "npm" };
}

/** Yarn 2+ (configured by .yarnrc.yml) renamed --frozen-lockfile to --immutable. */
function isYarnBerry(root: string): boolean {
  return isFile(root, ".yarnrc.yml");
}

/**
 * A fresh tree with a lockfile installs exactly what it pins; without one, the install resolves
 * and writes it. pnpm and yarn 2+ refuse that under CI (frozen/immutable by default there), so
 * the lockfile-less form says so explicitly.
 */
function installArgs(choice: PackageManagerChoice, root: string): string[] {
  if (!choice.lockfile) {
    if (choice.pm === "pnpm") return ["install", "--no-frozen-lockfile"];
    if (choice.pm === "yarn" && isYarnBerry(root)) return ["install", "--no-immutable"];
    return ["install"];
  }
  switch (choice.pm) {
    case "npm":
      return ["ci"];
    case "yarn":
      return ["install", isYarnBerry(root) ? "--immutable" : "--frozen-lockfile"];
    default:
      return ["install", "--frozen-lockfile"];
  }
}

function detect(ctx: ExtensionContext): boolean {
  if (!isFile(ctx.root, "package.json")) return false;
  const locks = LOCKFILES.filter(([file]) => isFile(ctx.root, file)).map(([file]) => file);
  const onlyBun = locks.length > 0 && locks.every((file) => BUN_LOCKFILES.includes(file));
  return !onlyBun;
}

function buildAction(ref: CommandRef, ctx: ExtensionContext) {
  const choice = detectPackageManager(ctx.root);
  if (formatRef(ref) === "setup:deps") return run(choice.pm, installArgs(choice, ctx.root));
  const candidates = scriptCandidates(ref);
  const script = pickScript(packageScripts(ctx.root), candidates);
  if (script) return run(choice.pm, ["run", script]);
  // A Biome configuration says how the project formats and lints when no script says otherwise.
  const biome = biomeArgs(ref, ctx.root);
  if (biome) {
    const [program = "biome", ...prefix] = biomeArgv(ctx.root);
    return run(program, [...prefix, ...biome]);
  }
  return missingScript(candidates);
}

/** How tasks start Biome: Plug'n'Play installs have no node_modules/.bin, so yarn resolves it. */
function biomeArgv(root: string): string[] {
  const program = biomeProgram(root);
  return program !== "biome" && usesPnp(root) ? ["yarn", "biome"] : [program];
}

/** Only the detected manager's cache: the others would be empty directories. */
function cacheMounts(ctx: ExtensionContext): CacheMount[] {
  switch (detectPackageManager(ctx.root).pm) {
    case "npm":
      return [{ path: "npm", container: `${IMAGE_HOME}/.npm`, env: "npm_config_cache" }];
    case "pnpm":
      // pnpm reads its settings from npm_config_* variables as well.
      return [{ path: "pnpm-store", container: `${IMAGE_HOME}/.local/share/pnpm/store`, env: "npm_config_store_dir" }];
    case "yarn":
      // Berry keeps its shared cache under the global folder; classic honours YARN_CACHE_FOLDER.
      return isYarnBerry(ctx.root)
        ? [{ path: "yarn-berry", container: `${IMAGE_HOME}/.yarn/berry`, env: "YARN_GLOBAL_FOLDER" }]
        : [{ path: "yarn", container: `${IMAGE_HOME}/.cache/yarn`, env: "YARN_CACHE_FOLDER" }];
    case "bun":
      return [{ path: "bun", container: `${IMAGE_HOME}/.bun/install/cache`, env: "BUN_INSTALL_CACHE_DIR" }];
  }
}

/** The lockfile each manager writes when there is none yet. */
const DEFAULT_LOCKFILE: Record<PackageManager, string> = {
  npm: "package-lock.json",
  pnpm: "pnpm-lock.yaml",
  yarn: "yarn.lock",
  bun: "bun.lock",
};

/** Yarn 2+ without `nodeLinker: node-modules` (or pnpm) installs Plug'n'Play: a loader file, no node_modules. */
function usesPnp(root: string): boolean {
  if (!isYarnBerry(root)) return false;
  const linker = /^\s*nodeLinker\s*:\s*["']?([\w-]+)/m.exec(readText(root, ".yarnrc.yml") ?? "")?.[1];
  return linker === undefined || linker === "pnp";
}

/** package.json, the lockfile (the one the manager will write, when absent) and the manager's workspace config. */
function nodeDependencies(root: string, choice: PackageManagerChoice): DependencySpec | undefined {
  if (!declaresDependencies(root)) return undefined;
  const lockfile = choice.lockfile ?? DEFAULT_LOCKFILE[choice.pm];
  const extra = existingFiles(root, choice.pm === "pnpm" ? ["pnpm-workspace.yaml"] : choice.pm === "yarn" ? [".yarnrc.yml"] : []);
  const paths = choice.pm === "yarn" && usesPnp(root) ? [".pnp.cjs"] : ["node_modules"];
  return { inputs: ["package.json", lockfile, ...extra], paths };
}

/** Toolchain pins only (what goes into the image); the lockfile keys the installed modules. */
function fingerprintInputs(ctx: ExtensionContext): string[] {
  return [...existingFiles(ctx.root, [".nvmrc", ".node-version"]), "package.json#json=packageManager"];
}

/** Node's version: .nvmrc, .node-version, else package.json's engines.node. */
function nodePin(root: string): ToolPin | undefined {
  for (const file of [".nvmrc", ".node-version"]) {
    const version = pinnedVersion(firstLine(root, file));
    if (version) return { file, version, probe: ["node", "--version"] };
  }
  const engines = readJsonObject(root, "package.json")?.engines as Record<string, unknown> | undefined;
  const version = pinnedVersion(engines?.node);
  return version ? { file: "package.json", version, probe: ["node", "--version"] } : undefined;
}

/** node: its version; a package manager: node's and its own (packageManager in package.json). */
function toolPins(program: string, ctx: ExtensionContext): ToolPin[] | undefined {
  const node = nodePin(ctx.root);
  if (!node) return undefined;
  if (program === "node") return [node];
  const pm = program === "npx" ? "npm" : program;
  if (pm !== "npm" && pm !== "pnpm" && pm !== "yarn") return undefined;
  const version = packageManagerPin(ctx.root, pm);
  return version ? [node, { file: "package.json", version, probe: [program, "--version"] }] : undefined;
}

const PM_HINT: Record<PackageManager, string> = {
  npm: "npm ships with Node.js",
  pnpm: "corepack enable (or: npm install -g pnpm)",
  yarn: "corepack enable (or: npm install -g yarn)",
  bun: "curl -fsSL https://bun.sh/install | bash",
};

function tools(ctx: ExtensionContext): ToolRequirement[] {
  const node: ToolRequirement = {
    name: "node",
    version: ["node", "--version"],
    install: "install Node.js 20+ (e.g. with fnm, nvm or your OS packages)",
  };
  const { pm } = detectPackageManager(ctx.root);
  const biome = biomeTool(ctx.root, biomeArgv(ctx.root));
  return [node, { name: pm, version: [pm, "--version"], install: PM_HINT[pm] }, ...(biome ? [biome] : [])];
}

export const node: Extension = {
  name: "node",
  description: "Node.js projects (package.json scripts via npm, pnpm or yarn)",
  detect,
  capabilities: () => ["setup:deps", "fmt", "lint", "build", "test", "package"],
  buildAction,
  cacheMounts,
  dependencies: (ctx) => nodeDependencies(ctx.root, detectPackageManager(ctx.root)),
  // Audit and funding notices cost a network round trip and bury the output that matters.
  env: () => ({ npm_config_audit: "false", npm_config_fund: "false" }),
  fingerprintInputs,
  toolPins,
  machineEnv: ["NVM_DIR", "NVM_BIN", "NVM_INC", "VOLTA_HOME", "FNM_DIR", "FNM_MULTISHELL_PATH"],
  taskInputs: () => undefined,
  // The usual home of a package's build (tsc, vite, rollup, tsup); a project building elsewhere adds [cache.outputs].
  taskOutputs: (ref) => (ref.primary === "build" ? ["dist"] : []),
  cacheable: defaultCacheable,
  tools,
  dockerfile: () => ({
    base: DEBIAN_BASE,
    install: [
      `ARCH="$(dpkg --print-architecture | sed -e 's/amd64/x64/')" && curl -fsSL "https://nodejs.org/dist/v${NODE_VERSION}/node-v${NODE_VERSION}-linux-\${ARCH}.tar.gz" | tar -xz -C /usr/local --strip-components=1 --exclude='*.md' --exclude=LICENSE`,
      // pnpm and yarn come from corepack shims, pinned by the project's packageManager field.
      // The corepack bundled with this Node predates the registry's 2025 signing keys and
      // rejects current pnpm and yarn releases ("Cannot find matching keyid"), so replace it.
      `npm install -g corepack@${COREPACK_VERSION} && corepack enable`,
    ],
  }),
};
