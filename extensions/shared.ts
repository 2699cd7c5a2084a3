// Helpers the builtin extensions share: reading project files without throwing on absence,
// shaping action results, and the package.json script lookup used by node and bun.
import { readFileSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import type { ActionResult, CommandRef, ToolRequirement } from "../src/sdk/types.ts";
import { formatRef, isMutating } from "../src/sdk/command-ref.ts";
import { UserError } from "../src/lib/errors.ts";

/** Every builtin Dockerfile fragment assumes this base (apt-get, dpkg, bash). */
export { DEBIAN_BASE } from "../src/sdk/image.ts";

export function isFile(root: string, rel: string): boolean {
  try {
    return statSync(join(root, rel)).isFile();
  } catch {
    return false;
  }
}

export function isDir(root: string, rel: string): boolean {
  try {
    return statSync(join(root, rel)).isDirectory();
  } catch {
    return false;
  }
}

export function existingFiles(root: string, candidates: readonly string[]): string[] {
  return candidates.filter((rel) => isFile(root, rel));
}

export function firstFile(root: string, candidates: readonly string[]): string | undefined {
  return candidates.find((rel) => isFile(root, rel));
}

/** Names directly under root; empty when root is unreadable, so detection just says no. */
export function listRoot(root: string): string[] {
  try {
    return readdirSync(root).sort();
  } catch {
    return [];
  }
}

export function readText(root: string, rel: string): string | undefined {
  try {
    return readFileSync(join(root, rel), "utf8");
  } catch {
    return undefined;
  }
}

/** A JSON object file, undefined when absent; a malformed file is the user's to fix, so it is a UserError. */
export function readJsonObject(root: string, rel: string): Record<string, unknown> | undefined {
  const text = readText(root, rel);
  if (text === undefined) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    throw new UserError(`${join(root, rel)} is not valid JSON: ${(e as Error).message}`);
  }
  if (!isRecord(parsed)) throw new UserError(`${join(root, rel)} must contain a JSON object.`);
  return parsed;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

export function run(program: string, args: string[], env?: Record<string, string>): ActionResult {
  return { action: env ? { program, args, env } : { program, args } };
}

export function skip(reason: string): ActionResult {
  return { skip: reason };
}

/** The skip for a command a stack has no meaning for (only reachable through a capability override). */
export function unsupported(stack: string, ref: CommandRef): ActionResult {
  return skip(`${stack} has no '${formatRef(ref)}' command`);
}

/** Fix selectors, package, release and setup change files or the world: their results are never reused. */
export function defaultCacheable(ref: CommandRef): boolean {
  return !isMutating(ref) && ref.primary !== "setup";
}

/** `'a'`, `'a' or 'b'`, `'a', 'b' or 'c'` — for skip reasons that name what was looked for. */
export function quoteList(names: readonly string[]): string {
  const quoted = names.map((n) => `'${n}'`);
  if (quoted.length <= 1) return quoted.join("");
  return `${quoted.slice(0, -1).join(", ")} or ${quoted[quoted.length - 1]}`;
}

// --- package.json scripts (node and bun) ---

/** Script names tried per command, the project's own naming first, then common alternatives. */
const SCRIPT_CANDIDATES: Record<string, string[]> = {
  "fmt:check": ["fmt:check", "format:check", "fmt-check", "format-check", "prettier:check"],
  "fmt:fix": ["fmt:fix", "fmt", "format", "format:fix"],
  "lint:static": ["lint:static", "lint"],
  "lint:fix": ["lint:fix"],
  "build:debug": ["build:debug", "build"],
  "build:release": ["build:release", "build"],
  "test:unit": ["test:unit", "test"],
  "test:integration": ["test:integration", "test:int", "test:e2e"],
  "test:smoke": ["test:smoke", "smoke"],
  "package:artifact": ["package", "pack"],
};

/** Commands without a table entry map to a script spelled like the command. */
export function scriptCandidates(ref: CommandRef): string[] {
  return SCRIPT_CANDIDATES[formatRef(ref)] ?? [formatRef(ref)];
}

/** The placeholder `npm init` writes is not a test suite; treating it as one would fail every gate. */
const NPM_PLACEHOLDER = /no test specified/;

export function packageScripts(root: string): Record<string, string> {
  const scripts = readJsonObject(root, "package.json")?.scripts;
  if (!isRecord(scripts)) return {};
  const out: Record<string, string> = {};
  for (const [name, body] of Object.entries(scripts)) {
    if (typeof body === "string" && !NPM_PLACEHOLDER.test(body)) out[name] = body;
  }
  return out;
}

const DEPENDENCY_FIELDS = ["dependencies", "devDependencies", "optionalDependencies", "peerDependencies"];

/** Whether an install would put anything in place: declared dependencies, or workspaces to link. */
export function declaresDependencies(root: string): boolean {
  const manifest = readJsonObject(root, "package.json") ?? {};
  const nonEmpty = (v: unknown) => (Array.isArray(v) ? v.length > 0 : isRecord(v) && Object.keys(v).length > 0);
  return DEPENDENCY_FIELDS.some((f) => nonEmpty(manifest[f])) || nonEmpty(manifest.workspaces) || isFile(root, "pnpm-workspace.yaml");
}

export function pickScript(scripts: Record<string, string>, candidates: readonly string[]): string | undefined {
  return candidates.find((name) => Object.hasOwn(scripts, name));
}

export function missingScript(candidates: readonly string[]): ActionResult {
  return skip(`no script ${quoteList(candidates)} in package.json`);
}

// --- Biome (node and bun) ---

/** The configuration files Biome itself looks for in a folder; one of them is the project's say-so. */
const BIOME_CONFIGS = ["biome.json", "biome.jsonc", ".biome.json", ".biome.jsonc"];

/** `check` lints and checks formatting in one pass; `format` alone is the formatter. */
const BIOME_ARGS: Record<string, string[]> = {
  "fmt:check": ["format"],
  "fmt:fix": ["format", "--write"],
  "lint:static": ["check"],
  "lint:fix": ["check", "--write"],
};

/**
 * Not handed to Biome: dwf's cache root (.cache/devflow by default; Biome does not read the
 * .gitignore dwf puts inside it), other tools' caches, and what Biome skips anyway.
 */
const BIOME_SKIPPED = new Set([".cache", ".git", "node_modules"]);

/**
 * Biome's argv for a command, when the project configures Biome and Biome has a meaning for it:
 * the root's entries one by one, which is `.` less the folders above.
 */
export function biomeArgs(ref: CommandRef, root: string): string[] | undefined {
  const args = BIOME_ARGS[formatRef(ref)];
  if (!args || firstFile(root, BIOME_CONFIGS) === undefined) return undefined;
  return [...args, ...listRoot(root).filter((name) => !BIOME_SKIPPED.has(name))];
}

/** The project's own Biome (a dependency, put in node_modules by setup:deps) before one on PATH. */
export function biomeProgram(root: string): string {
  const manifest = readJsonObject(root, "package.json") ?? {};
  const declared = DEPENDENCY_FIELDS.some((f) => {
    const deps = manifest[f];
    return isRecord(deps) && Object.hasOwn(deps, "@biomejs/biome");
  });
  return declared ? "node_modules/.bin/biome" : "biome";
}

/**
 * Biome for doctor, when the project configures it and has no script of its own for some of
 * Biome's commands: `argv` runs Biome as the tasks do, `usedBy` names the commands that run it.
 */
export function biomeTool(root: string, argv: string[]): ToolRequirement | undefined {
  const scripts = packageScripts(root);
  const usedBy = Object.keys(BIOME_ARGS).filter((cmd) => {
    const [primary = "", selector = ""] = cmd.split(":");
    const ref = { primary, selector };
    return biomeArgs(ref, root) !== undefined && pickScript(scripts, scriptCandidates(ref)) === undefined;
  });
  if (usedBy.length === 0) return undefined;
  const install =
    argv[0] === "biome"
      ? "add @biomejs/biome to the devDependencies (npm install -D -E @biomejs/biome), then run 'dwf setup:deps'"
      : "run 'dwf setup:deps' (@biomejs/biome is in package.json)";
  return { name: "biome", version: [...argv, "--version"], install, usedBy };
}

/** A version as a pin file writes it: trimmed, without a leading `v`; undefined when empty. */
export function pinnedVersion(raw: unknown): string | undefined {
  if (typeof raw !== "string") return undefined;
  const v = raw.trim().replace(/^v(?=\d)/, "");
  return v || undefined;
}

/** The first line of a file that is neither empty nor a comment (`.nvmrc`, `.python-version`). */
export function firstLine(root: string, rel: string): string | undefined {
  return readText(root, rel)
    ?.split("\n")
    .map((l) => l.trim())
    .find((l) => l && !l.startsWith("#"));
}

/** `name@1.2.3` from package.json's packageManager (corepack's field; a `+sha…` suffix is dropped). */
export function packageManagerPin(root: string, name: string): string | undefined {
  const field = readJsonObject(root, "package.json")?.packageManager;
  if (typeof field !== "string" || !field.startsWith(`${name}@`)) return undefined;
  return pinnedVersion(field.slice(name.length + 1).split("+")[0]);
}
