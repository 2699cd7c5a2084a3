// Writing generated files without losing user work: refuse existing files unless forced,
// never follow a symlink out of the project, and replace atomically (temp file + rename).
import { linkSync, mkdirSync, renameSync, rmdirSync, rmSync, writeFileSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import { UserError } from "../lib/errors.ts";
import { lstatOrNull } from "../lib/fs.ts";
import { checkInsideProject } from "../lib/safe-write.ts";

export interface PlannedFile {
  /** Path relative to the project root. */
  path: string;
  content: string;
}

/** Check every file before writing any, so a refusal leaves the project untouched. */
export function checkWritable(root: string, files: PlannedFile[], force: boolean): void {
  const existing = files.filter((f) => checkInsideProject(root, f.path, f.path)).map((f) => f.path);
  if (existing.length && !force) {
    throw new UserError(
      `${existing.join(", ")} already exist${existing.length === 1 ? "s" : ""}; dwf init never overwrites files (nothing was written).`,
      "Run 'dwf init --dry-run' to see what it would write, or 'dwf init --force' to replace them.",
    );
  }
}

function suffix(): string {
  return Array.from(crypto.getRandomValues(new Uint8Array(6)), (b) => b.toString(16).padStart(2, "0")).join("");
}

/** Create `dir` and its missing parents; returns the ones created, outermost first. */
function makeDirs(dir: string, created: string[]): void {
  const missing: string[] = [];
  for (let d = dir; !lstatOrNull(d); d = dirname(d)) missing.unshift(d);
  for (const d of missing) {
    mkdirSync(d);
    created.push(d);
  }
}

/**
 * Write every file or none: each goes to a temp file beside its target first, and only when
 * all of them are written are they renamed into place. A failure at any point removes the
 * temp files and folders this call created and puts back what a rename had replaced.
 * Returns the absolute paths written.
 */
export function writeAllOrNothing(root: string, files: PlannedFile[]): string[] {
  const createdDirs: string[] = [];
  const staged: { target: string; temp: string; backup?: string; placed?: boolean }[] = [];
  const undo = () => {
    for (const s of [...staged].reverse()) {
      try {
        if (s.placed && s.backup) renameSync(s.backup, s.target);
        else if (s.placed) rmSync(s.target, { force: true });
      } catch {}
      rmSync(s.temp, { force: true });
      if (s.backup) rmSync(s.backup, { force: true });
    }
    for (const d of createdDirs.reverse()) {
      try {
        rmdirSync(d);
      } catch {}
    }
  };
  let current = "";
  try {
    for (const f of files) {
      current = f.path;
      const target = resolve(root, f.path);
      makeDirs(dirname(target), createdDirs);
      const temp = join(dirname(target), `.${basename(target)}.dwf-${suffix()}.tmp`);
      staged.push({ target, temp });
      writeFileSync(temp, f.content, { flag: "wx", mode: 0o644 });
    }
    for (const s of staged) {
      current = s.target;
      if (lstatOrNull(s.target)) {
        // --force: keep the old file under a second name until every rename has succeeded.
        s.backup = `${s.temp}.old`;
        linkSync(s.target, s.backup);
      }
      renameSync(s.temp, s.target);
      s.placed = true;
    }
  } catch (e) {
    undo();
    throw new UserError(
      `cannot write ${current}: ${(e as Error).message}; dwf init wrote nothing.`,
      "Fix the problem (a file where a folder should be, permissions, a full disk) and run it again.",
    );
  }
  for (const s of staged) if (s.backup) rmSync(s.backup, { force: true });
  return staged.map((s) => s.target);
}
