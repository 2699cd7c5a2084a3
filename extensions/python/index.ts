// Python stack: ruff (or black) and pytest, run through uv when the project is locked with it,
// else through the project's .venv. Missing tools still get an action: the container may have them.
import type {
  ActionResult,
  CommandRef,
  DependencySpec,
  Extension,
  ExtensionContext,
  ToolPin,
  ToolRequirement,
} from "../../src/sdk/types.ts";
import { formatRef } from "../../src/sdk/command-ref.ts";
import { VENV, VENV_PYTHON, devExtras, venvHasModule, venvSetupArgs, venvState } from "./venv.ts";
import {
  DEBIAN_BASE,
  defaultCacheable,
  existingFiles,
  firstFile,
  firstLine,
  isDir,
  isFile,
  pinnedVersion,
  readText,
  run,
  skip,
  unsupported,
} from "../shared.ts";
import { IMAGE_HOME } from "../../src/sdk/image.ts";

const UV_VERSION = "0.5.11";
const RUFF_VERSION = "0.8.4";

const MANIFESTS = ["pyproject.toml", "setup.py", "requirements.txt"];
const REQUIREMENTS = ["requirements.txt", "requirements-dev.txt", "requirements-test.txt"];

const CAPABILITIES = [
  "setup:deps",
  "fmt:check",
  "fmt:fix",
  "lint:static",
  "lint:fix",
  "test:unit",
  "test:integration",
  "test:all",
  "package:artifact",
];

/** uv runs tools from the locked environment; without both uv and uv.lock we call tools directly. */
function usesUv(ctx: ExtensionContext): boolean {
  return ctx.which("uv") !== null && isFile(ctx.root, "uv.lock");
}

/** `python` is what venvs and most hosts provide; plain Debian has only `python3`. */
function pythonProgram(ctx: ExtensionContext): string {
  if (ctx.which("python")) return "python";
  return ctx.which("python3") ? "python3" : "python";
}

/**
 * The interpreter for project code: .venv's when there is one, the machine's when there is none.
 * A venv whose interpreter does not resolve here may still be right where the task runs (made in
 * the container, checked from the host); one made for another runtime is recreated by setup:deps
 * (which dwf runs first when the install was recorded for another runtime, or not at all).
 */
function projectPython(ctx: ExtensionContext): string {
  return venvState(ctx.root) === "absent" ? pythonProgram(ctx) : VENV_PYTHON;
}

/**
 * A formatter/linter: `uv run <tool>` in uv projects; the venv's copy when the venv has it
 * installed; otherwise the bare tool (ruff and black need nothing from the project's environment).
 */
function tool(ctx: ExtensionContext, name: string, args: string[]): ActionResult {
  if (usesUv(ctx)) return run("uv", ["run", name, ...args]);
  const state = venvState(ctx.root);
  if (state === "ok" && venvHasModule(ctx.root, name)) return run(VENV_PYTHON, ["-m", name, ...args]);
  return run(name, args);
}

/**
 * The project's configuration names its formatter more reliably than the host PATH does;
 * with neither signal for ruff, black is the long-standing default.
 */
function formatter(ctx: ExtensionContext): "ruff" | "black" {
  const pyproject = readText(ctx.root, "pyproject.toml") ?? "";
  const mentions = (name: string) => new RegExp(`\\[tool\\.${name}\\b|["']${name}\\b`).test(pyproject);
  if (mentions("ruff")) return "ruff";
  if (mentions("black")) return "black";
  return ctx.which("ruff") ? "ruff" : "black";
}

function fmtAction(ctx: ExtensionContext, check: boolean): ActionResult {
  if (formatter(ctx) === "ruff") return tool(ctx, "ruff", check ? ["format", "--check", "."] : ["format", "."]);
  return tool(ctx, "black", check ? ["--check", "."] : ["."]);
}

/** Python modules run with the project's interpreter: tests must see the project's dependencies. */
function module(ctx: ExtensionContext, name: string, args: string[]): ActionResult {
  if (usesUv(ctx)) return run("uv", ["run", name, ...args]);
  return run(projectPython(ctx), ["-m", name, ...args]);
}

function pytest(ctx: ExtensionContext, args: string[]): ActionResult {
  return module(ctx, "pytest", args);
}

/** Unit tests must not include the integration suite when both live under tests/. */
function unitTestArgs(root: string): string[] {
  if (isDir(root, "tests/unit")) return ["tests/unit"];
  if (!isDir(root, "tests")) return [];
  return isDir(root, "tests/integration") ? ["tests", "--ignore=tests/integration"] : ["tests"];
}

/** Whether `.` is an installable package rather than a folder of scripts with a tool config. */
function isPackage(root: string): boolean {
  if (isFile(root, "setup.py")) return true;
  return /^\s*\[(project|build-system)\]/m.test(readText(root, "pyproject.toml") ?? "");
}

function setupAction(ctx: ExtensionContext): ActionResult {
  if (usesUv(ctx)) return run("uv", ["sync", "--locked"]);
  const pipArgs = pipInstallArgs(ctx.root);
  if (pipArgs.length === 0) return skip("no requirements*.txt or installable pyproject.toml/setup.py");
  // Two steps (make .venv if needed, then pip install into it) need a shell; the script is fixed text.
  return run("sh", venvSetupArgs(pythonProgram(ctx), pipArgs));
}

/** `-r` for each requirements file, then the project itself, editable, with its dev/test extras. */
function pipInstallArgs(root: string): string[] {
  const requirements = existingFiles(root, REQUIREMENTS).flatMap((file) => ["-r", file]);
  if (!isPackage(root)) return requirements;
  const extras = devExtras(root);
  return [...requirements, "-e", extras.length > 0 ? `.[${extras.join(",")}]` : "."];
}

/** uv's project environment: .venv unless UV_PROJECT_ENVIRONMENT moves it (outside the tree: no workspace path). */
function uvEnvironment(ctx: ExtensionContext): string[] {
  const configured = ctx.env.UV_PROJECT_ENVIRONMENT;
  if (!configured) return [VENV];
  if (configured.startsWith("/") || configured.split("/").includes("..")) return [];
  return [configured];
}

/**
 * What setup:deps installs, and what defines it: uv syncs .venv from uv.lock; otherwise pip fills
 * .venv from the requirements files and the project's own metadata. Nothing to install: undefined.
 */
function dependencies(ctx: ExtensionContext): DependencySpec | undefined {
  if (usesUv(ctx)) return { inputs: ["pyproject.toml", "uv.lock"], paths: uvEnvironment(ctx) };
  if (pipInstallArgs(ctx.root).length === 0) return undefined;
  const requirements = existingFiles(ctx.root, REQUIREMENTS);
  const metadata = isPackage(ctx.root) ? existingFiles(ctx.root, ["pyproject.toml", "setup.py", "setup.cfg"]) : [];
  return { inputs: [...requirements, ...metadata], paths: [VENV] };
}

function buildAction(ref: CommandRef, ctx: ExtensionContext): ActionResult {
  switch (formatRef(ref)) {
    case "setup:deps":
      return setupAction(ctx);
    case "fmt:check":
      return fmtAction(ctx, true);
    case "fmt:fix":
      return fmtAction(ctx, false);
    case "lint:static":
      return tool(ctx, "ruff", ["check", "."]);
    case "lint:fix":
      return tool(ctx, "ruff", ["check", "--fix", "."]);
    case "test:unit":
      return pytest(ctx, unitTestArgs(ctx.root));
    case "test:integration":
      return isDir(ctx.root, "tests/integration") ? pytest(ctx, ["tests/integration"]) : skip("no tests/integration directory");
    case "test:all":
      return pytest(ctx, []);
    case "package:artifact":
      if (!isPackage(ctx.root)) return skip("no [project] in pyproject.toml and no setup.py: nothing to package");
      return usesUv(ctx) ? run("uv", ["build"]) : module(ctx, "build", []);
    default:
      return unsupported("python", ref);
  }
}

/** Toolchain pins only (what goes into the image); lockfiles and requirements key the venv. */
function fingerprintInputs(ctx: ExtensionContext): string[] {
  return [...existingFiles(ctx.root, [".python-version"]), "pyproject.toml#lines=^\\s*requires-python\\s*="];
}

/** The argv of an action (for a version check that runs the tool the way the task will). */
function argvOf(result: ActionResult, fallback: string[]): string[] {
  return "action" in result ? [result.action.program, ...result.action.args] : fallback;
}

/**
 * Each tool with the argv that runs it exactly as the tasks do (uv, the venv's copy, or the
 * bare tool), and the commands that use it, so doctor calls a tool needed when the profile runs it.
 */
function tools(ctx: ExtensionContext): ToolRequirement[] {
  const python = pythonProgram(ctx);
  const uvLocked = isFile(ctx.root, "uv.lock");
  // Under uv the tools live in the locked environment: check it without syncing (doctor changes nothing).
  const uv = usesUv(ctx);
  const inEnv = (name: string) => (uv ? ["uv", "run", "--no-sync", name, "--version"] : undefined);
  const fromDeps = "add it to the project's dev dependencies, then run 'dwf setup:deps'";
  const fmt = formatter(ctx);
  return [
    // The formatter and linter are tools of their own; the interpreter runs setup, tests and packaging.
    {
      name: python,
      version: [python, "--version"],
      install: "install Python 3 (e.g. apt-get install python3, or uv python install)",
      usedBy: ["setup", "test", "package"],
    },
    { name: "uv", version: ["uv", "--version"], install: "curl -LsSf https://astral.sh/uv/install.sh | sh", optional: !uvLocked },
    {
      name: "ruff",
      version: inEnv("ruff") ?? argvOf(tool(ctx, "ruff", ["--version"]), ["ruff", "--version"]),
      install: uv ? fromDeps : "uv tool install ruff (or: pip install ruff)",
      usedBy: fmt === "ruff" ? ["lint", "fmt"] : ["lint"],
    },
    {
      name: "black",
      version: inEnv("black") ?? argvOf(tool(ctx, "black", ["--version"]), ["black", "--version"]),
      install: uv ? fromDeps : "uv tool install black (or: pip install black)",
      usedBy: fmt === "black" ? ["fmt"] : [],
    },
    {
      name: "pytest",
      version: inEnv("pytest") ?? argvOf(module(ctx, "pytest", ["--version"]), [python, "-m", "pytest", "--version"]),
      install: fromDeps,
      usedBy: ["test"],
    },
  ];
}

/** The interpreter (the machine's or the venv's) against .python-version; uv and bare tools are not pinned. */
function toolPins(program: string, ctx: ExtensionContext): ToolPin[] | undefined {
  if (program !== "python" && program !== "python3" && program !== VENV_PYTHON) return undefined;
  const version = pinnedVersion(firstLine(ctx.root, ".python-version"));
  return version ? [{ file: ".python-version", version, probe: [program, "--version"] }] : undefined;
}

export const python: Extension = {
  name: "python",
  description: "Python projects (ruff or black, pytest; uv when uv.lock exists, else a project .venv)",
  detect: (ctx) => firstFile(ctx.root, MANIFESTS) !== undefined,
  capabilities: () => [...CAPABILITIES],
  buildAction,
  dependencies,
  cacheMounts: () => [
    { path: "pip", container: `${IMAGE_HOME}/.cache/pip`, env: "PIP_CACHE_DIR" },
    { path: "uv", container: `${IMAGE_HOME}/.cache/uv`, env: "UV_CACHE_DIR" },
  ],
  // pip's version check is a network call on every install and only adds noise to the log.
  env: () => ({ PIP_DISABLE_PIP_VERSION_CHECK: "1" }),
  fingerprintInputs,
  toolPins,
  machineEnv: ["PYENV_ROOT", "PYENV_SHELL"],
  taskInputs: () => undefined,
  cacheable: defaultCacheable,
  tools,
  dockerfile: () => ({
    base: DEBIAN_BASE,
    packages: ["python3", "python3-pip", "python3-venv", "python-is-python3"],
    install: [
      `curl -LsSf https://astral.sh/uv/${UV_VERSION}/install.sh | env UV_INSTALL_DIR=/usr/local/bin UV_NO_MODIFY_PATH=1 sh`,
      `UV_TOOL_DIR=/opt/uv-tools UV_TOOL_BIN_DIR=/usr/local/bin uv tool install ruff==${RUFF_VERSION}`,
    ],
  }),
};
