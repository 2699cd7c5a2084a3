// The task cache's stored entries: one JSON file per key under `tasks/`, read back only when
// intact and naming the task asked for, with a task's declared outputs kept beside it.
import { dirname, join } from "node:path";
import type { PreparedTask } from "../core/prepare.ts";
import type { TaskCacheHit } from "../core/execute.ts";
import type { RunOutcome } from "../core/runner.ts";
import type { Config } from "../core/config.ts";
import type { Registry } from "../core/registry.ts";
import { redactText, secretValues } from "../lib/redact.ts";
import { log } from "../lib/log.ts";
import { removeStaleTemps, writeCacheFile } from "../lib/safe-write.ts";
import { READ_CAPS, readOwnFile, touchNow } from "../lib/fs.ts";
import { LOCAL_OUTPUTS_MAX, MANIFEST_MAX, type OutputRecord, listOutputs, outputsIntact, taskOutputs, validRecord } from "./outputs.ts";

const ENTRY_VERSION = 1;
export const TASKS_DIR = "tasks";

interface CacheEntry {
  version: number;
  key: string;
  task: string;
  durationMs: number;
  output: string;
  created: string;
  /** For a task with declared outputs: what it left, and whether they are kept beside the entry. */
  outputs?: OutputRecord;
}

function outputsPath(cacheRoot: string, key: string): string {
  return join(cacheRoot, TASKS_DIR, key.slice(0, 2), `${key}.outputs.tgz`);
}

export function entryPath(cacheRoot: string, key: string): string {
  return join(cacheRoot, TASKS_DIR, key.slice(0, 2), `${key}.json`);
}

/** An entry is trusted only when it parses, has the right shape, and names the key and task asked for. */
export function parseEntry(text: string, key: string, task: string): CacheEntry | null {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    return null;
  }
  if (typeof data !== "object" || data === null) return null;
  const e = data as Record<string, unknown>;
  if (e.version !== ENTRY_VERSION || e.key !== key || e.task !== task) return null;
  if (typeof e.durationMs !== "number" || !Number.isFinite(e.durationMs) || e.durationMs < 0) return null;
  if (typeof e.output !== "string" || typeof e.created !== "string") return null;
  if (e.outputs !== undefined && !validRecord(e.outputs)) return null;
  return e as unknown as CacheEntry;
}

/** What a stored result holds, locally or on a remote: its output masked like the terminal's. */
export function storedResult(
  t: PreparedTask,
  key: string,
  outcome: RunOutcome,
): { key: string; task: string; durationMs: number; output: string } {
  return {
    key,
    task: t.task.id,
    durationMs: Math.round(outcome.durationMs),
    output: redactText(outcome.output, secretValues(process.env, t.env)),
  };
}

/** The entries of one cache root, as the task cache reads and writes them. */
interface Entries {
  /** The hit stored under this key, or null: sync unless the task's declared outputs must be checked (readEntry). */
  read(t: PreparedTask, key: string): TaskCacheHit | null | Promise<TaskCacheHit | null>;
  /** Keep a passing outcome under this key (and its declared outputs beside it). */
  write(t: PreparedTask, key: string, outcome: RunOutcome): Promise<void>;
}

export function createEntries(opts: { cacheRoot: string; root: string; config: Config; registry: Registry }): Entries {
  const { cacheRoot, root, config, registry } = opts;

  const outputsOf = (t: PreparedTask) => taskOutputs(t, config, registry);

  /**
   * A hit for a task with declared outputs only when they are in the workspace: as listed, or
   * put back from the copy kept beside the entry. Otherwise a miss, and the task runs.
   */
  const outputsReady = async (t: PreparedTask, key: string, entry: CacheEntry, declared: string[]): Promise<boolean> => {
    const rec = entry.outputs;
    if (!rec || rec.paths.join("\0") !== declared.join("\0")) {
      log.debug(`task cache: ${t.task.id}: the stored result does not record its outputs (${declared.join(", ")}); it runs`);
      return false;
    }
    if (outputsIntact(root, rec)) return true;
    const path = outputsPath(cacheRoot, key);
    const read = rec.packed ? readOwnFile(path, READ_CAPS.outputs, { binary: true }) : {};
    if (!read.bytes) {
      log.debug(`task cache: ${t.task.id}: its outputs (${declared.join(", ")}) are gone and no copy is kept; it runs`);
      return false;
    }
    try {
      const { restoreOutputs, unpackArtifact } = await import("./artifact.ts");
      restoreOutputs(root, unpackArtifact(read.bytes, { key, task: t.task.id, outputs: declared }).files);
    } catch (e) {
      log.debug(`task cache: ${t.task.id}: could not restore its outputs from ${path}: ${(e as Error).message}; it runs`);
      return false;
    }
    touchNow(path);
    log.debug(`task cache: ${t.task.id}: restored ${declared.join(", ")} from the cache`);
    return outputsIntact(root, rec);
  };

  /** The stored result under this key, trusted only when it is intact and names this task. */
  /** Sync for a task without declared outputs (no promise per task on an all-cached run); a promise when its outputs must be checked. */
  const readEntry = (t: PreparedTask, key: string): TaskCacheHit | null | Promise<TaskCacheHit | null> => {
    const path = entryPath(cacheRoot, key);
    // One small file: a sync read is cheaper than an async round trip per task. Whatever a
    // container or another process put in its place (FIFO, device, symlink, huge file) is refused.
    const read = readOwnFile(path, READ_CAPS.entry);
    if (read.text === undefined) {
      if (read.refused !== "missing") log.debug(`task cache: ignoring ${path} (${read.refused}); the task runs and rewrites it`);
      return null;
    }
    const entry = parseEntry(read.text, key, t.task.id);
    if (!entry) {
      log.debug(`task cache: ignoring damaged entry ${path}; the task runs and rewrites it`);
      return null;
    }
    const hit = (): TaskCacheHit => {
      // Prune ages entries by last use, not creation.
      touchNow(path);
      if (entry.outputs?.packed) touchNow(outputsPath(cacheRoot, key));
      return { durationMs: entry.durationMs, output: entry.output };
    };
    const declared = outputsOf(t);
    if (declared.length === 0) return hit();
    return outputsReady(t, key, entry, declared).then((ready) => (ready ? hit() : null));
  };

  /**
   * List the outputs a passing task left and keep a copy beside its entry (the remote cache's
   * artifact format, fast compression) when they fit under LOCAL_OUTPUTS_MAX. Written before the
   * entry, so an entry never names a copy that is not there.
   */
  const keepOutputs = async (key: string, result: ReturnType<typeof storedResult>, declared: string[]): Promise<OutputRecord> => {
    const listing = listOutputs(root, declared);
    const rec: OutputRecord = {
      paths: declared,
      present: listing.present,
      files: listing.files.length <= MANIFEST_MAX ? listing.files : null,
      packed: false,
    };
    if (listing.files.length === 0) return rec;
    if (listing.bytes > LOCAL_OUTPUTS_MAX) {
      log.debug(
        `task cache: ${result.task}: outputs are ${Math.round(listing.bytes / 1024 / 1024)} MiB, over the ${LOCAL_OUTPUTS_MAX / 1024 / 1024} MiB kept locally: listed, not kept`,
      );
      return rec;
    }
    try {
      const { packArtifact, REMOTE_ENTRY_VERSION } = await import("./artifact.ts");
      const body = packArtifact(root, { version: REMOTE_ENTRY_VERSION, ...result, outputs: declared }, { level: 1 });
      writeCacheFile(cacheRoot, outputsPath(cacheRoot, key), body);
      rec.packed = true;
    } catch (e) {
      log.debug(`task cache: ${result.task}: outputs not kept: ${(e as Error).message}`);
    }
    return rec;
  };

  const writeEntry = async (t: PreparedTask, key: string, outcome: RunOutcome): Promise<void> => {
    const path = entryPath(cacheRoot, key);
    removeStaleTemps(dirname(path));
    const result = storedResult(t, key, outcome);
    const entry: CacheEntry = { version: ENTRY_VERSION, ...result, created: new Date().toISOString() };
    const declared = outputsOf(t);
    if (declared.length > 0) entry.outputs = await keepOutputs(key, result, declared);
    writeCacheFile(cacheRoot, path, JSON.stringify(entry));
  };

  return { read: readEntry, write: writeEntry };
}
