// Installed dependencies: before the tasks that need a stack's dependencies, dwf runs the stack's
// `setup:deps` when what is installed is missing or out of date. The extension names the inputs
// that define the install (lockfiles, manifests) and the workspace paths that hold it; dwf keeps
// a record of the last successful install per tree and stack under the cache root, naming the
// runtime it was made for, so an unchanged tree costs a few stats and hashes, never a process.
import { existsSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import type { DependencySpec, Extension, ExtensionContext } from "../sdk/types.ts";
import type { RuntimeKind } from "./runner.ts";
import { validateDependencySpec } from "../sdk/dependencies.ts";
import { hashFileSync } from "./fingerprint.ts";
import { writeCacheFile } from "../lib/safe-write.ts";
import { READ_CAPS, readOwnText } from "../lib/fs.ts";
import { ensureCacheRoot } from "./cache-root.ts";
import { log } from "../lib/log.ts";
import { pidExists } from "../lib/pid.ts";
import { insideContainer } from "../sdk/image.ts";

const DEPS_DIR = "deps";
export const RECORD_VERSION = 1;

/** What the cache root remembers about the last successful install of one stack in one tree. */
export interface InstallRecord {
  version: number;
  stack: string;
  /** `host:<platform>-<arch>` or `container:<image fingerprint>`: installs are not interchangeable. */
  environment: string;
  /** Each input's SHA-256 after the install (null: the file did not exist). */
  inputs: Record<string, string | null>;
  paths: string[];
  installedAt: string;
  durationMs: number;
}

/** Where one stack's install stands, for plans and --json. */
export interface DependencyStatus {
  stack: string;
  inputs: string[];
  paths: string[];
  /** An install task is in the plan. */
  install: boolean;
  /** Why it is (or would be) installed; undefined when what is installed is current. */
  reason?: string;
  /** Automatic installs are off (--no-install or [deps] install = false). */
  disabled?: boolean;
  /** Why the stack's setup:deps could not be used (the extension skipped or declined it). */
  skipped?: string;
}

/** What the executor needs to run one install safely: the record to check and write, and the lock. */
export interface InstallGuard {
  stack: string;
  ext: Extension;
  ctx: ExtensionContext;
  /** Project root (the paths and inputs are relative to it). */
  root: string;
  cacheRoot: string;
  spec: DependencySpec;
  environment: string;
  recordPath: string;
  lockPath: string;
  /** dwf added this install (it re-checks after waiting for the lock); false for an explicit setup:deps. */
  automatic: boolean;
  /**
   * After the install: ask the extension again for the actions of the stack's other tasks (an
   * install can change them: a venv's interpreter appears). Returns the ids whose action changed.
   */
  refresh?: () => Promise<string[]>;
}

/** One folder per tree (a cache root may be shared by several checkouts). */
function depsDir(cacheRoot: string, root: string): string {
  const id = Bun.CryptoHasher.hash("sha256", root, "hex").slice(0, 24);
  return join(cacheRoot, DEPS_DIR, id);
}

export function recordPath(cacheRoot: string, root: string, stack: string): string {
  return join(depsDir(cacheRoot, root), `${stack}.json`);
}

export function lockPath(cacheRoot: string, root: string, stack: string): string {
  return join(depsDir(cacheRoot, root), `${stack}.lock`);
}

/** The extension's spec, validated; undefined when the stack installs nothing. */
export async function dependencySpec(ext: Extension, ctx: ExtensionContext): Promise<DependencySpec | undefined> {
  const spec = await ext.dependencies?.(ctx);
  return spec === undefined ? undefined : validateDependencySpec(spec, ext.name);
}

/**
 * The identity of what an install was made for: the host's platform, or the image's fingerprint.
 * A dwf already inside a container (the markers runtime/select.ts reads) runs actions directly:
 * it installs for the image when DWF_IMAGE names this tree's image (CI's container jobs, as the
 * task cache keys them), and otherwise for "some container", which is neither the host nor an
 * image dwf knows, so nothing is reused across that line.
 */
export async function runtimeEnvironment(
  runtime: RuntimeKind,
  imageFingerprint: () => Promise<string>,
  env: Record<string, string | undefined> = process.env,
): Promise<string> {
  const inside = insideContainer(env);
  if (runtime === "host" && !inside) return `host:${process.platform}-${process.arch}`;
  const fingerprint = await imageFingerprint();
  if (runtime === "container" || env.DWF_IMAGE?.trim().endsWith(`:${fingerprint}`)) return `container:${fingerprint}`;
  return `in-container:${process.platform}-${process.arch}`;
}

export function hashInputs(root: string, inputs: string[]): Record<string, string | null> {
  const out: Record<string, string | null> = {};
  for (const p of [...inputs].sort()) out[p] = hashFileSync(join(root, p));
  return out;
}

export function readRecord(path: string, stack: string): InstallRecord | undefined {
  let data: unknown;
  try {
    data = JSON.parse(readOwnText(path, READ_CAPS.small) ?? "null");
  } catch {
    return undefined;
  }
  if (typeof data !== "object" || data === null) return undefined;
  const r = data as Record<string, unknown>;
  if (r.version !== RECORD_VERSION || r.stack !== stack || typeof r.environment !== "string") return undefined;
  if (typeof r.inputs !== "object" || r.inputs === null || !Array.isArray(r.paths)) return undefined;
  return r as unknown as InstallRecord;
}

function describeEnvironment(env: string): string {
  return env.startsWith("host:") ? "on the host" : "in a container";
}

/** `a`, `a and b`, `a, b and 2 more`. */
function listNames(names: string[]): string {
  if (names.length <= 2) return names.join(" and ");
  return `${names.slice(0, 2).join(", ")} and ${names.length - 2} more`;
}

/**
 * Why an install is due, or undefined when the record says what is installed is current:
 * a path missing, no record, another runtime or image, or an input that changed.
 */
export function staleReason(
  root: string,
  spec: DependencySpec,
  record: InstallRecord | undefined,
  environment: string,
): string | undefined {
  const missing = spec.paths.filter((p) => !existsSync(join(root, p)));
  if (missing.length) return `${listNames(missing)} missing`;
  if (!record) return spec.paths.length ? `${listNames(spec.paths)} not installed by dwf yet` : "not installed by dwf yet";
  if (record.environment !== environment) {
    const was = describeEnvironment(record.environment);
    const now = describeEnvironment(environment);
    return was === now ? "the container image changed since the last install" : `installed ${was}, this run is ${now}`;
  }
  const now = hashInputs(root, spec.inputs);
  const changed: string[] = [];
  for (const [path, hash] of Object.entries(now)) {
    if (!(path in record.inputs)) {
      if (hash !== null) changed.push(path);
    } else if (record.inputs[path] !== hash) changed.push(path);
  }
  if (changed.length === 0) return undefined;
  const verb = changed.every((p) => now[p] === null)
    ? "removed"
    : changed.every((p) => record.inputs[p] === undefined || record.inputs[p] === null)
      ? "added"
      : "changed";
  return `${listNames(changed)} ${verb}`;
}

/** After a successful install: what the inputs are now (the install may have written a lockfile). */
export async function writeRecord(guard: InstallGuard, durationMs: number): Promise<void> {
  const root = guard.root;
  let spec = guard.spec;
  try {
    spec = (await dependencySpec(guard.ext, guard.ctx)) ?? spec;
  } catch (e) {
    log.debug(`dependencies: keeping the planned spec for ${guard.stack}: ${(e as Error).message}`);
  }
  const missing = spec.paths.filter((p) => !existsSync(join(root, p)));
  if (missing.length) {
    log.warn(
      `setup:deps for ${guard.stack} passed but ${listNames(missing)} still ${missing.length === 1 ? "does" : "do"} not exist; dwf will install again next run.`,
    );
  }
  const record: InstallRecord = {
    version: RECORD_VERSION,
    stack: guard.stack,
    environment: guard.environment,
    inputs: hashInputs(root, spec.inputs),
    paths: spec.paths,
    installedAt: new Date().toISOString(),
    durationMs: Math.round(durationMs),
  };
  ensureCacheRoot(guard.cacheRoot);
  writeCacheFile(guard.cacheRoot, guard.recordPath, JSON.stringify(record, null, 2) + "\n");
}

/** Forget an install (a failed one leaves the tree in an unknown state). */
export function dropRecord(guard: InstallGuard): void {
  rmSync(guard.recordPath, { force: true });
}

// --- the install lock ---

interface LockOwner {
  pid: number;
  host: string;
  token: string;
  started: string;
}

/** A lock whose owner is gone (killed, crashed) may be taken over. */
function staleLock(path: string): { stale: boolean; owner?: LockOwner } {
  let owner: LockOwner;
  try {
    owner = JSON.parse(readOwnText(path, READ_CAPS.small) ?? "null") as LockOwner;
  } catch {
    // Half-written by a process that died between create and write, or removed meanwhile.
    return { stale: !existsSync(path) || Date.now() - (Bun.file(path).lastModified || 0) > 60_000 };
  }
  if (owner.host === hostname()) return { stale: !pidExists(owner.pid), owner };
  // Another machine sharing the cache root: trust it for a day.
  return { stale: Date.now() - Date.parse(owner.started) > 24 * 3600_000, owner };
}

const POLL_MS = 200;

/**
 * Run `fn` holding the install lock of one stack in one tree, so two dwf runs never install into
 * the same folders at once. Waits (saying so once) while another live run holds it.
 */
export async function withInstallLock<T>(path: string, stack: string, signal: AbortSignal, fn: () => Promise<T>): Promise<T> {
  mkdirSync(join(path, ".."), { recursive: true });
  const token = crypto.randomUUID();
  const me: LockOwner = { pid: process.pid, host: hostname(), token, started: new Date().toISOString() };
  let told = false;
  for (;;) {
    try {
      writeFileSync(path, JSON.stringify(me), { flag: "wx" });
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
    }
    const { stale, owner } = staleLock(path);
    if (stale) {
      log.debug(`dependencies: taking over the stale install lock ${path}${owner ? ` (pid ${owner.pid} is gone)` : ""}`);
      rmSync(path, { force: true });
      continue;
    }
    if (!told) {
      log.info(`Waiting for another dwf run${owner ? ` (pid ${owner.pid})` : ""} to finish installing ${stack} dependencies in this tree…`);
      told = true;
    }
    if (signal.aborted) throw new InstallInterrupted();
    await new Promise<void>((done) => {
      const t = setTimeout(done, POLL_MS);
      signal.addEventListener("abort", () => (clearTimeout(t), done()), { once: true });
    });
    if (signal.aborted) throw new InstallInterrupted();
  }
  try {
    return await fn();
  } finally {
    try {
      const now = JSON.parse(readOwnText(path, READ_CAPS.small) ?? "null") as LockOwner;
      if (now.token === token) rmSync(path, { force: true });
    } catch {}
  }
}

/** Interrupted while waiting for the lock. */
export class InstallInterrupted extends Error {
  constructor() {
    super("interrupted while waiting for another dwf run's install");
  }
}
