// A task's declared outputs (dist/, target/…): which paths they are, what is under them, and
// whether what a cached result recorded is still there. Shared by the local and remote caches.
import { readdirSync, readlinkSync, realpathSync } from "node:fs";
import { join, posix } from "node:path";
import type { PreparedTask } from "../core/prepare.ts";
import { isInside, lstatOrNull } from "../lib/fs.ts";
import { formatRef } from "../sdk/command-ref.ts";
import type { Config } from "../core/config.ts";
import type { Registry } from "../core/registry.ts";

/** A task's declared outputs as they were when its result was stored. */
export interface OutputRecord {
  /** The declared output paths then. */
  paths: string[];
  /** Those of them that existed. */
  present: string[];
  /** Every file (its size) and kept symlink (-1) under them; null when there were more than MANIFEST_MAX. */
  files: [string, number][] | null;
  /** Whether `<key>.outputs.tgz` beside the entry holds them. */
  packed: boolean;
}

/** Outputs bigger than this (unpacked) are listed with the result but not kept: deleting them means a re-run. */
export const LOCAL_OUTPUTS_MAX = 128 * 1024 * 1024;
/** Outputs of more files than this are checked by their top-level paths only. */
export const MANIFEST_MAX = 50_000;

/** Normalised relative output paths, as prefixes: `dist`, `target/debug`. */
export function normaliseOutputs(paths: string[]): string[] {
  const out = new Set<string>();
  for (const p of paths) {
    const n = posix.normalize(p.replace(/\/+$/, ""));
    if (!n || n === "." || n.startsWith("../") || n === ".." || n.startsWith("/")) continue;
    out.add(n);
  }
  return [...out].sort();
}

/** Declared outputs of a task: the extension's, plus [cache.outputs] for its command. */
export function taskOutputs(t: PreparedTask, config: Config, registry: Registry): string[] {
  const fromExt = t.stack.ext.taskOutputs?.(t.task.ref, registry.ctx) ?? [];
  const fromConfig = config.cache?.outputs?.[formatRef(t.task.ref)] ?? [];
  return normaliseOutputs([...fromExt, ...fromConfig]);
}

/**
 * What is under the declared outputs now, by the rules the artifact is packed with (packArtifact):
 * files with their sizes, symlinks that stay inside the project; folders are walked.
 */
export function listOutputs(root: string, outputs: string[]): { present: string[]; files: [string, number][]; bytes: number } {
  const files: [string, number][] = [];
  const present: string[] = [];
  let bytes = 0;
  let realRoot: string | undefined;
  const walk = (rel: string) => {
    const abs = join(root, rel);
    const st = lstatOrNull(abs);
    if (!st) return;
    if (st.isSymbolicLink()) {
      let real: string | null = null;
      try {
        real = realpathSync(abs);
      } catch {}
      realRoot ??= realpathSync(root);
      if (!readlinkSync(abs).startsWith("/") && real && isInside(realRoot, real)) files.push([rel, -1]);
    } else if (st.isDirectory()) {
      for (const name of readdirSync(abs).sort()) walk(`${rel}/${name}`);
    } else if (st.isFile()) {
      bytes += st.size;
      files.push([rel, st.size]);
    }
  };
  for (const o of outputs) {
    if (!lstatOrNull(join(root, o))) continue;
    present.push(o);
    walk(o);
  }
  return { present, files, bytes };
}

/** Whether what a stored result left is still in the workspace (every listed file, same size). */
export function outputsIntact(root: string, rec: OutputRecord): boolean {
  for (const p of rec.present) if (!lstatOrNull(join(root, p))) return false;
  for (const [rel, size] of rec.files ?? []) {
    const st = lstatOrNull(join(root, rel));
    if (!st || (size === -1 ? !st.isSymbolicLink() : !st.isFile() || st.size !== size)) return false;
  }
  return true;
}

export function validRecord(v: unknown): v is OutputRecord {
  if (typeof v !== "object" || v === null) return false;
  const r = v as Record<string, unknown>;
  const strings = (a: unknown) => Array.isArray(a) && a.every((x) => typeof x === "string");
  return (
    strings(r.paths) &&
    strings(r.present) &&
    typeof r.packed === "boolean" &&
    (r.files === null ||
      (Array.isArray(r.files) && r.files.every((f) => Array.isArray(f) && typeof f[0] === "string" && typeof f[1] === "number")))
  );
}
