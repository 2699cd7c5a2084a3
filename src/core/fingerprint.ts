// The environment fingerprint: SHA-256 over what goes into the image — Dockerfile.devflow, the
// files it copies, the toolchain pins the active extensions name, the bake file and the image
// platforms — as (relative path, content hash | missing). Independent of checkout path and file
// order, so every machine computes the same tag. Lockfiles are not in it: they key the
// dependency caches (dependencyKey), so a dependency bump never rebuilds an identical image.
import { closeSync, constants, fstatSync, openSync, readSync, realpathSync, statSync } from "node:fs";
import { isInside, READ_CAPS, readOwnFile } from "../lib/fs.ts";
import { UserError } from "../lib/errors.ts";
import { LONG_LOOP, expectLongWork } from "../lib/jit.ts";
import { isAbsolute, join, relative, sep } from "node:path";
import type { Registry } from "./registry.ts";
import type { Config } from "./config.ts";

export const DOCKERFILE = "Dockerfile.devflow";
/** The bake file CI builds the image with (written by `dwf ci generate`). */
export const BAKE_FILE = "docker-bake.hcl";
const DEFAULT_PLATFORMS = ["linux/amd64"];

/** Image platforms: [ci] platforms, else [container] platforms, else linux/amd64. */
export function imagePlatforms(config: Config): string[] {
  return config.ci?.platforms ?? config.container?.platforms ?? DEFAULT_PLATFORMS;
}

/**
 * A fingerprint input names a file, or a part of one: `file#json=<key>` (one top-level JSON
 * key, e.g. a manifest's toolchain field) or `file#lines=<regex>` (the lines matching it,
 * e.g. the version lines of a module file). A part hashes only what it selects.
 */
const PART = /^(.*)#(json|lines)=(.+)$/;

export interface FingerprintInput {
  path: string;
  /** SHA-256 hex of the content, or null when the file does not exist. */
  hash: string | null;
  /** Which extension (or "config"/"container") asked for it. */
  from: string[];
}

export interface Fingerprint {
  hash: string;
  inputs: FingerprintInput[];
}

/**
 * The image fingerprint of a project. A run asks it through its loaded project
 * (`project.fingerprint()`, computed once per load), not by calling this again.
 */
export async function imageFingerprint(registry: Registry, config: Config, root: string): Promise<Fingerprint> {
  return computeFingerprint(root, await fingerprintInputs(registry, config, root));
}

/** Which paths make the fingerprint, with who asked for each. Globs are expanded. */
export async function fingerprintInputs(registry: Registry, config: Config, root: string): Promise<Map<string, string[]>> {
  return collectInputs(registry, config, root, true);
}

/**
 * The stacks' and the config's inputs alone, without the Dockerfile and what it copies: what a
 * stack's own fingerprint (part of every task key) is made of, without reading the Dockerfile.
 */
export async function stackFingerprintInputs(registry: Registry, config: Config, root: string): Promise<Map<string, string[]>> {
  return collectInputs(registry, config, root, false);
}

async function collectInputs(registry: Registry, config: Config, root: string, image: boolean): Promise<Map<string, string[]>> {
  const wanted = new Map<string, string[]>();
  const add = (path: string, from: string) => {
    const rel = normaliseInput(path, root);
    if (rel === null) return;
    wanted.set(rel, [...(wanted.get(rel) ?? []), from]);
  };
  if (image) {
    const dockerfile = config.container?.dockerfile ?? DOCKERFILE;
    if (config.container?.dockerfile !== undefined) checkProjectPath(config.container.dockerfile, root, "container.dockerfile", "config");
    add(dockerfile, "container");
    // Files the Dockerfile copies into the image are part of it: editing one must rebuild.
    for (const p of dockerfileCopySources(readText(join(root, dockerfile)))) await expandSource(p, root, (f) => add(f, "container"));
    // The bake file decides how the image is built; the platforms, which images exist.
    add(BAKE_FILE, "container");
    wanted.set(`platforms=${imagePlatforms(config).join(",")}`, ["container"]);
  }
  for (const s of registry.stacks) {
    const inputs = (await s.ext.fingerprintInputs?.(registry.ctx)) ?? [];
    for (const p of inputs) {
      checkProjectPath(p, root, "fingerprint_inputs", s.external ? `extension '${s.name}'` : undefined);
      await expand(p, root, (f) => add(f, s.name));
    }
  }
  (config.container?.fingerprint_inputs ?? []).forEach((p, i) => checkProjectPath(p, root, `container.fingerprint_inputs[${i}]`, "config"));
  for (const p of config.container?.fingerprint_inputs ?? []) await expand(p, root, (f) => add(f, "config"));
  return wanted;
}

/**
 * A path or glob that names project files: relative, no `..`, and (when it exists) inside the
 * project by its real path. `/**` would walk the whole filesystem; `../../etc/passwd` is not
 * part of the project, so it could never be fingerprinted — both are refused with exit 2.
 */
function checkProjectPath(p: string, root: string, key: string, owner: string | undefined): void {
  const where = owner === "config" ? `devflow.toml: ${key}` : owner ? `${owner} ${key}` : key;
  const refuse = (why: string): never => {
    throw new UserError(
      `${where}: ${JSON.stringify(p)} ${why}.`,
      owner === "config"
        ? "List paths relative to the project root, inside it (globs such as 'tools/*.txt' are fine)."
        : "The extension must list paths relative to the project root, inside it.",
    );
  };
  if (typeof p !== "string" || p.trim() === "") refuse("is empty");
  if (p.includes("\0")) refuse("contains a NUL byte");
  if (isAbsolute(p) || /^[a-zA-Z]:[\\/]/.test(p)) refuse("is an absolute path; inputs are files of the project");
  if (p.split(/[\\/]+/).includes("..")) refuse("leads outside the project ('..')");
  if (/[*?[{]/.test(p)) return;
  const abs = join(root, p);
  let real: string;
  try {
    real = realpathSync(abs);
  } catch {
    return; // Missing: counted as missing.
  }
  if (!isInside(realpathSync(root), real)) refuse(`leads outside the project through a symlink (to ${real})`);
}

async function expand(pattern: string, root: string, add: (p: string) => void): Promise<void> {
  if (PART.test(pattern) || !/[*?[{]/.test(pattern)) return add(pattern);
  let matches: string[];
  try {
    matches = [...new Bun.Glob(pattern).scanSync({ cwd: root, onlyFiles: true, dot: true, followSymlinks: false })];
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    throw new UserError(
      `cannot expand fingerprint input '${pattern}': ${err.code ?? ""}${err.code ? " " : ""}${err.message}`,
      "Fix the permissions of the folder it names, or narrow the pattern.",
    );
  }
  if (matches.length > LONG_LOOP) expectLongWork();
  for (const m of matches.sort()) add(m);
}

/** The Dockerfile's text for its COPY sources; a FIFO or device there is never opened blocking (hashing it then fails clearly). */
function readText(path: string): string {
  return readOwnFile(path, READ_CAPS.dockerfile, { followSymlinks: true }).text ?? "";
}

/**
 * Build-context sources of the Dockerfile's COPY/ADD instructions. Skipped: copies from another
 * stage or image (--from), URLs and git sources (not in the tree), and the whole context (`.`),
 * which would make every edit anywhere a new image.
 */
export function dockerfileCopySources(text: string): string[] {
  const sources: string[] = [];
  const lines = text.replace(/\\\r?\n/g, " ").split(/\r?\n/);
  for (const line of lines) {
    const m = /^\s*(?:COPY|ADD)\s+(.*)$/i.exec(line);
    if (!m) continue;
    let rest = m[1]!.trim();
    const flags: string[] = [];
    while (rest.startsWith("--")) {
      const end = rest.search(/\s/);
      flags.push(end < 0 ? rest : rest.slice(0, end));
      rest = end < 0 ? "" : rest.slice(end).trim();
    }
    if (flags.some((f) => /^--from=/i.test(f))) continue;
    let args: string[];
    if (rest.startsWith("[")) {
      try {
        const parsed: unknown = JSON.parse(rest);
        args = Array.isArray(parsed) ? parsed.map(String) : [];
      } catch {
        args = [];
      }
    } else args = rest.split(/\s+/).filter((a) => a !== "");
    for (const src of args.slice(0, -1)) {
      if (/^[a-z][a-z0-9+.-]*:\/\//i.test(src) || src.startsWith("git@") || src.startsWith("<<")) continue;
      const clean = src
        .split("/")
        .filter((p) => p !== "" && p !== ".")
        .join("/");
      if (clean === "" || clean.startsWith("..")) continue;
      sources.push(clean);
    }
  }
  return sources;
}

/** A COPY source may be a file, a glob or a directory (all files under it). */
async function expandSource(source: string, root: string, add: (p: string) => void): Promise<void> {
  let dir = false;
  try {
    dir = statSync(join(root, source)).isDirectory();
  } catch {
    // Missing, or a glob: expand() handles both.
  }
  if (!dir) return expand(source, root, add);
  const matches = [...new Bun.Glob("**").scanSync({ cwd: join(root, source), onlyFiles: true, dot: true })];
  for (const m of matches.sort()) add(`${source}/${m}`);
}

/** Inputs are project-relative; anything outside the project is ignored. */
function normaliseInput(path: string, root: string): string | null {
  const part = PART.exec(path);
  if (part) {
    const file = normaliseInput(part[1]!, root);
    return file === null ? null : `${file}#${part[2]}=${part[3]}`;
  }
  const rel = isAbsolute(path) ? relative(root, path) : path;
  const clean = rel
    .split(sep)
    .filter((p) => p !== "" && p !== ".")
    .join("/");
  if (clean === "" || clean.startsWith("..")) return null;
  return clean;
}

// Read synchronously into a reused buffer: measured faster than both stream() and per-file
// async reads, for one 512 MiB file (≈ openssl) and for thousands of small ones (no promise per
// file). Fingerprinting runs before any task, so blocking here costs nothing. Small files use a
// small buffer: allocating the large one counts towards the garbage collector's first cycle,
// and in a short run that alone set off a collection (~1.5 ms).
const CHUNK = 4 * 1024 * 1024;
const SMALL_CHUNK = 64 * 1024;
let buffer: Buffer | undefined;
let smallBuffer: Buffer | undefined;

/** SHA-256 hex of a file's content, or null when it does not exist (or is not a file). */
export function hashFileSync(path: string): string | null {
  let fd: number;
  let st: ReturnType<typeof statSync>;
  try {
    // Stat first: opening a FIFO named as an input would block forever.
    st = statSync(path);
    if (st.isDirectory()) return null;
    if (!st.isFile())
      throw new UserError(`fingerprint input ${path} is not a regular file.`, "List only regular files as fingerprint inputs.");
    // Non-blocking, and checked again once open: a FIFO swapped in after the stat cannot block.
    fd = openSync(path, constants.O_RDONLY | (constants.O_NONBLOCK ?? 0));
    if (!fstatSync(fd).isFile()) {
      closeSync(fd);
      throw new UserError(`fingerprint input ${path} is not a regular file.`, "List only regular files as fingerprint inputs.");
    }
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "ENOENT" || code === "ENOTDIR") return null;
    if (e instanceof UserError) throw e;
    throw new UserError(
      `cannot read fingerprint input ${path}: ${(e as Error).message}`,
      "Fix its permissions, or remove it from the fingerprint inputs.",
    );
  }
  try {
    const buf = st.size <= SMALL_CHUNK ? (smallBuffer ??= Buffer.allocUnsafe(SMALL_CHUNK)) : (buffer ??= Buffer.allocUnsafe(CHUNK));
    const hasher = new Bun.CryptoHasher("sha256");
    let n: number;
    // Read to the end whatever the size said: the file may have grown since.
    while ((n = readSync(fd, buf, 0, buf.length, null)) > 0) hasher.update(buf.subarray(0, n));
    return hasher.digest("hex");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "EISDIR") return null;
    throw e;
  } finally {
    closeSync(fd);
  }
}

/** Hash of one input: a file, a part of one (see PART), or a literal `name=value` (the platforms). */
function hashInput(root: string, input: string): string | null {
  const part = PART.exec(input);
  if (part) {
    const [, file, kind, selector] = part as unknown as [string, string, string, string];
    if (hashFileSync(join(root, file)) === null) return null;
    const text = readText(join(root, file));
    let selected: string;
    if (kind === "json") {
      let value: unknown;
      try {
        value = (JSON.parse(text) as Record<string, unknown>)?.[selector];
      } catch {
        value = text;
      }
      if (value === undefined) return null;
      selected = JSON.stringify(value);
    } else {
      const re = new RegExp(selector);
      selected = text
        .split(/\r?\n/)
        .filter((l) => re.test(l))
        .join("\n");
      if (selected === "") return null;
    }
    return new Bun.CryptoHasher("sha256").update(selected).digest("hex");
  }
  if (input.startsWith("platforms=")) return new Bun.CryptoHasher("sha256").update(input).digest("hex");
  return hashFileSync(join(root, input));
}

export async function computeFingerprint(root: string, wanted: Map<string, string[]>): Promise<Fingerprint> {
  const paths = [...wanted.keys()].sort();
  if (paths.length > LONG_LOOP) expectLongWork();
  // A missing input counts as "missing"; an unreadable one is an error, never silently missing.
  const hashes = paths.map((p) => hashInput(root, p));
  const total = new Bun.CryptoHasher("sha256");
  total.update("dwf-fingerprint-v2\n");
  const inputs = paths.map((path, i) => {
    const hash = hashes[i] ?? null;
    total.update(`${path}\0${hash ?? "missing"}\n`);
    return { path, hash, from: wanted.get(path)! };
  });
  return { hash: total.digest("hex"), inputs };
}

/**
 * The second part of the environment: what the stacks install into the workspace and build
 * there. Its key is the hash of the files the extensions name (lockfiles, manifests, toolchain
 * pins): CI's dependency cache is keyed by the image fingerprint plus this, so a lockfile change
 * refreshes the cache without touching the image.
 */
interface DependencyPart {
  hash: string;
  inputs: FingerprintInput[];
  /** Workspace paths that hold installed dependencies and build outputs, with who named them. */
  paths: { path: string; from: string[]; kind: "dependencies" | "build-outputs" }[];
}

export async function dependencyPart(registry: Registry, root: string): Promise<DependencyPart> {
  const wanted = new Map<string, string[]>();
  const paths: DependencyPart["paths"] = [];
  const addPath = (p: string, from: string, kind: DependencyPart["paths"][number]["kind"]) => {
    const rel = normaliseInput(p, root);
    if (rel === null) return;
    const known = paths.find((x) => x.path === rel);
    if (known) known.from.includes(from) || known.from.push(from);
    else paths.push({ path: rel, from: [from], kind });
  };
  for (const s of registry.stacks) {
    const deps = await s.ext.dependencies?.(registry.ctx);
    const outputs = await s.ext.buildOutputs?.(registry.ctx);
    for (const spec of [deps, outputs]) {
      for (const p of spec?.inputs ?? []) {
        await expand(p, root, (f) => {
          const rel = normaliseInput(f, root);
          if (rel !== null) wanted.set(rel, [...new Set([...(wanted.get(rel) ?? []), s.name])]);
        });
      }
    }
    for (const p of deps?.paths ?? []) addPath(p, s.name, "dependencies");
    for (const p of outputs?.paths ?? []) addPath(p, s.name, "build-outputs");
  }
  const fp = await computeFingerprint(root, wanted);
  return { hash: fp.hash, inputs: fp.inputs, paths };
}

/** CI's cache key for the warm workspace, and the prefix that restores an older one. */
export function cacheKey(imageFingerprint: string, dependencyHash: string): { key: string; restorePrefix: string } {
  const restorePrefix = `dwf-${imageFingerprint.slice(0, 16)}-`;
  return { key: `${restorePrefix}${dependencyHash.slice(0, 16)}`, restorePrefix };
}
