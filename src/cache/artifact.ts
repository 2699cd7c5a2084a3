// A remote cache artifact: the signed, content-addressed tar of one task's result and its
// declared outputs. Packing, the signature (Turborepo's x-artifact-tag), and unpacking that
// trusts nothing: size caps, the key and task named inside, only declared outputs, nothing
// escaping the project.
import { mkdirSync, readFileSync, readdirSync, readlinkSync, realpathSync, renameSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { dirname, join, posix, resolve } from "node:path";
import { gunzipSync } from "node:zlib";
import { isInside, lstatOrNull } from "../lib/fs.ts";
import { readTar, writeTar, TarError, type TarEntry } from "./tar.ts";
import { log } from "../lib/log.ts";
import { normaliseOutputs } from "./outputs.ts";

/** Compressed artifact size cap: a bigger download is refused (a miss), a bigger upload skipped. */
export const MAX_ARTIFACT_BYTES = 256 * 1024 * 1024;
/** Unpacked size cap: a small archive must not expand into a disk-filling one. */
export const MAX_UNPACKED_BYTES = 1024 * 1024 * 1024;
/** Where the result itself lives inside an artifact; everything else is a declared output. */
export const ENTRY_NAME = ".dwf-task/entry.json";
export const REMOTE_ENTRY_VERSION = 1;

/** The artifact name on the server for a task key: namespaced, so a format change is a new name. */
export function remoteHash(key: string): string {
  return Bun.CryptoHasher.hash("sha256", `dwf-remote-${REMOTE_ENTRY_VERSION}\0${key}`, "hex");
}

/** Turborepo's artifact tag: base64 HMAC-SHA256 over the hash, the team and the artifact body. */
export function artifactTag(signatureKey: string, hash: string, team: string, body: Uint8Array): string {
  const h = new Bun.CryptoHasher("sha256", signatureKey);
  h.update(hash);
  h.update(team);
  h.update(body);
  return h.digest("base64");
}

/** Constant-time comparison of two tags. */
export function tagMatches(expected: string, got: string | null): boolean {
  if (!got) return false;
  const a = Buffer.from(expected);
  const b = Buffer.from(got);
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i]! ^ b[i]!;
  return diff === 0;
}

export interface RemoteEntry {
  version: number;
  key: string;
  task: string;
  durationMs: number;
  output: string;
  /** The declared output paths when it was stored. */
  outputs: string[];
}

function underOutputs(path: string, outputs: string[]): boolean {
  return outputs.some((o) => path === o || path.startsWith(`${o}/`));
}

export class ArtifactError extends Error {}

/**
 * The artifact for a result: a gzipped tar of the entry and the declared outputs as they are
 * on disk now. Symlinks are kept when they stay inside the project, left out otherwise.
 */
export function packArtifact(root: string, entry: RemoteEntry, opts: { level?: number } = {}): Uint8Array {
  const files: TarEntry[] = [{ type: "file", path: ENTRY_NAME, mode: 0o644, data: new TextEncoder().encode(JSON.stringify(entry)) }];
  let bytes = 0;
  const realRoot = realpathSync(root);
  const walk = (rel: string) => {
    const abs = join(root, rel);
    const st = lstatOrNull(abs);
    if (!st) return;
    if (st.isSymbolicLink()) {
      const target = readlinkSync(abs);
      let real: string | null = null;
      try {
        real = realpathSync(abs);
      } catch {}
      if (!target.startsWith("/") && real && isInside(realRoot, real)) files.push({ type: "symlink", path: rel, target });
      else log.debug(`remote cache: leaving out ${rel}: a symlink leading outside the project`);
    } else if (st.isDirectory()) {
      files.push({ type: "dir", path: rel, mode: 0o755 });
      for (const name of readdirSync(abs).sort()) walk(`${rel}/${name}`);
    } else if (st.isFile()) {
      bytes += st.size;
      if (bytes > MAX_UNPACKED_BYTES) throw new ArtifactError(`outputs are larger than ${MAX_UNPACKED_BYTES / 1024 / 1024} MiB`);
      files.push({ type: "file", path: rel, mode: st.mode & 0o111 ? 0o755 : 0o644, data: readFileSync(abs) });
    }
  };
  for (const o of entry.outputs) walk(o);
  const body = Bun.gzipSync(writeTar(files) as Uint8Array<ArrayBuffer>, opts.level === undefined ? undefined : { level: opts.level as 1 });
  if (body.length > MAX_ARTIFACT_BYTES)
    throw new ArtifactError(
      `artifact is ${Math.round(body.length / 1024 / 1024)} MiB, over the ${MAX_ARTIFACT_BYTES / 1024 / 1024} MiB cap`,
    );
  return body;
}

interface Unpacked {
  entry: RemoteEntry;
  /** Validated output entries, ready for restoreOutputs. */
  files: TarEntry[];
}

/**
 * Check and open a downloaded artifact (its signature is checked before this). Throws
 * ArtifactError for anything short of a whole archive holding this key's entry and only
 * paths under the outputs this machine declares for the task.
 */
/** The most a deflate stream can expand (zlib's technical notes). */
const DEFLATE_MAX_RATIO = 1032;

export function unpackArtifact(
  body: Uint8Array,
  expect: { key: string; task: string; outputs: string[] },
  maxUnpacked = MAX_UNPACKED_BYTES,
): Unpacked {
  if (body.length > MAX_ARTIFACT_BYTES) throw new ArtifactError(`artifact is over the ${MAX_ARTIFACT_BYTES / 1024 / 1024} MiB cap`);
  let tar: Uint8Array;
  try {
    // Deflate expands at most 1032:1, so a body this small cannot unpack past the cap: the
    // native one-shot gunzip does (node's stream-based one costs ~10 ms to set up per run).
    tar =
      body.length * DEFLATE_MAX_RATIO <= maxUnpacked
        ? Bun.gunzipSync(body as Uint8Array<ArrayBuffer>)
        : gunzipSync(body, { maxOutputLength: maxUnpacked });
    if (tar.length > maxUnpacked) throw new Error("maxOutputLength exceeded");
  } catch (e) {
    const msg = (e as Error).message;
    throw new ArtifactError(
      /maxOutputLength|larger than|buffer/i.test(msg)
        ? `unpacks to more than ${Math.round(maxUnpacked / 1024 / 1024)} MiB`
        : `not a whole gzip stream (truncated or damaged): ${msg}`,
    );
  }
  let entries: TarEntry[];
  try {
    entries = readTar(tar);
  } catch (e) {
    if (e instanceof TarError) throw new ArtifactError(`damaged archive: ${e.message}`);
    throw e;
  }
  const head = entries.find((e) => e.path === ENTRY_NAME);
  if (!head || head.type !== "file") throw new ArtifactError("no result entry in the archive");
  let entry: RemoteEntry;
  try {
    entry = JSON.parse(new TextDecoder().decode(head.data)) as RemoteEntry;
  } catch {
    throw new ArtifactError("the result entry is not JSON");
  }
  if (entry?.version !== REMOTE_ENTRY_VERSION || entry.key !== expect.key || entry.task !== expect.task)
    throw new ArtifactError("the entry names another key or task");
  if (
    typeof entry.output !== "string" ||
    typeof entry.durationMs !== "number" ||
    !Number.isFinite(entry.durationMs) ||
    entry.durationMs < 0
  ) {
    throw new ArtifactError("the result entry is malformed");
  }
  const outputs = normaliseOutputs(expect.outputs);
  const files: TarEntry[] = [];
  const links = new Set<string>();
  const seen = new Set<string>();
  for (const e of entries) {
    if (e.path === ENTRY_NAME) continue;
    const p = e.path;
    if (p.includes("\0") || p.includes("\\") || p.startsWith("/") || p.split("/").some((s) => s === "" || s === "." || s === "..")) {
      throw new ArtifactError(`entry ${JSON.stringify(p)} is not a plain relative path (it could escape the project)`);
    }
    if (!underOutputs(p, outputs))
      throw new ArtifactError(`entry ${JSON.stringify(p)} is not under the task's declared outputs (${outputs.join(", ") || "none"})`);
    if (seen.has(p)) throw new ArtifactError(`entry ${JSON.stringify(p)} appears twice`);
    seen.add(p);
    if (e.type === "symlink") {
      const target = e.target;
      const resolved = posix.normalize(posix.join(posix.dirname(p), target));
      if (!target || target.startsWith("/") || target.includes("\0") || resolved === ".." || resolved.startsWith("../")) {
        throw new ArtifactError(`symlink ${JSON.stringify(p)} points outside the project (${JSON.stringify(target)})`);
      }
      links.add(p);
    }
    files.push(e);
  }
  // Nothing may be written through a link the archive itself makes.
  for (const e of files) {
    for (let d = posix.dirname(e.path); d !== "."; d = posix.dirname(d)) {
      if (links.has(d)) throw new ArtifactError(`entry ${JSON.stringify(e.path)} lies below the symlink ${JSON.stringify(d)}`);
    }
  }
  return { entry, files };
}

/** Whether a folder on disk (existing part of the path) resolves inside the project. */
function parentInside(realRoot: string, abs: string): boolean {
  let parent = dirname(abs);
  while (!lstatOrNull(parent)) parent = dirname(parent);
  try {
    return isInside(realRoot, realpathSync(parent));
  } catch {
    return false;
  }
}

/**
 * Write validated outputs into the project. Every target's existing folders must resolve
 * inside the project (a symlinked `dist` leading out is refused before anything is written);
 * files replace what is there atomically, folders are created, symlinks last.
 */
export function restoreOutputs(root: string, files: TarEntry[]): void {
  const realRoot = realpathSync(root);
  for (const e of files) {
    const abs = resolve(root, e.path);
    if (!isInside(root, abs) || !parentInside(realRoot, abs))
      throw new ArtifactError(`${e.path} would be written outside the project (a folder on the way is a symlink leading out)`);
    const st = lstatOrNull(abs);
    if (st?.isSymbolicLink() && e.type !== "symlink")
      throw new ArtifactError(`${e.path} is a symlink in the project; not writing through it`);
    if (st?.isDirectory() && e.type !== "dir")
      throw new ArtifactError(`${e.path} is a folder in the project; the artifact has a file there`);
  }
  const suffix = `.dwf-restore-${process.pid}-${Date.now().toString(36)}`;
  const ordered = [
    ...files.filter((e) => e.type === "dir"),
    ...files.filter((e) => e.type === "file"),
    ...files.filter((e) => e.type === "symlink"),
  ];
  for (const e of ordered) {
    const abs = resolve(root, e.path);
    if (e.type === "dir") {
      if (!lstatOrNull(abs)?.isDirectory()) mkdirSync(abs, { recursive: true });
      continue;
    }
    mkdirSync(dirname(abs), { recursive: true });
    // Re-check just before writing: an earlier entry may have changed what lies on the way.
    if (!parentInside(realRoot, abs)) throw new ArtifactError(`${e.path} would be written outside the project`);
    const tmp = `${abs}${suffix}`;
    try {
      if (e.type === "file") writeFileSync(tmp, e.data, { mode: e.mode & 0o111 ? 0o755 : 0o644, flag: "wx" });
      else symlinkSync(e.target, tmp);
      if (lstatOrNull(abs)?.isDirectory()) rmSync(abs, { recursive: true });
      renameSync(tmp, abs);
    } catch (err) {
      rmSync(tmp, { force: true });
      throw err;
    }
  }
}
