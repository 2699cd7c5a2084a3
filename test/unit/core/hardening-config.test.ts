// Fixed-seed config fuzzing in-process (fast): every mutated devflow.toml either loads or
// fails with a UserError whose printed form is one short paragraph. The long run is
// test/stress/fuzz-config.ts, through the binary.
import { describe, expect, test, afterAll } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadConfig } from "../../../src/core/config.ts";
import { UserError } from "../../../src/lib/errors.ts";
import { clipMessage } from "../../../src/cli/router.ts";
import { MUTATORS, makeCase, messageProblem, type FuzzCase } from "../../stress/fuzz-gen.ts";

const SEED = 20240808;
const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function place(c: FuzzCase): string {
  const dir = mkdtempSync(join(tmpdir(), "dwf-hfz-"));
  dirs.push(dir);
  const path = join(dir, "devflow.toml");
  if (c.kind === "dir") mkdirSync(path);
  else if (c.kind === "fifo") Bun.spawnSync(["mkfifo", path]);
  else if (c.kind === "loop") symlinkSync("devflow.toml", path);
  else if (c.kind === "dangling") symlinkSync("nowhere.toml", path);
  else writeFileSync(path, c.bytes);
  return dir;
}

/** What the user would see for this case: null when it loads, else the printed message. */
function outcome(c: FuzzCase): { ok: true } | { ok: false; printed: string } {
  const dir = place(c);
  try {
    loadConfig({ cwd: dir, explicit: "devflow.toml" });
    return { ok: true };
  } catch (e) {
    if (!(e instanceof UserError)) throw new Error(`case ${c.id} (${c.mutation}) threw ${(e as Error).name}: ${(e as Error).message}`);
    return { ok: false, printed: `error: ${clipMessage(e.message)}${e.hint ? `\n  ${clipMessage(e.hint)}` : ""}` };
  }
}

describe("config fuzzing (fixed seed, in-process)", () => {
  test("60 mutated files: each loads or gives one short paragraph naming the file", () => {
    let rejected = 0;
    for (let id = 0; id < 60; id++) {
      const c = makeCase(SEED, id);
      const o = outcome(c);
      if (o.ok) continue;
      rejected++;
      expect({ id, mutation: c.mutation, problem: messageProblem(o.printed) }).toEqual({ id, mutation: c.mutation, problem: null });
      expect(o.printed).toContain("devflow.toml");
    }
    // The generator produces mostly broken files; a run where everything loads means it broke.
    expect(rejected).toBeGreaterThan(40);
  });

  test("every mutator at least once yields a handled outcome", () => {
    for (const name of Object.keys(MUTATORS)) {
      let c: FuzzCase | undefined;
      for (let id = 0; id < 5000 && !c; id++) {
        const candidate = makeCase(SEED, id);
        if (candidate.mutation.split("+")[0] === name) c = candidate;
      }
      expect(c).toBeDefined();
      const o = outcome(c!);
      if (!o.ok) expect(messageProblem(o.printed)).toBeNull();
    }
  });

  test("a FIFO where devflow.toml should be is refused instead of blocking forever", () => {
    const o = outcome({ id: -1, mutation: "fifo", kind: "fifo", bytes: new Uint8Array() });
    expect(o.ok).toBe(false);
    if (!o.ok) expect(o.printed).toContain("is not a regular file");
  });

  test("a directory and a symlink loop each give their own message", () => {
    const dir = outcome({ id: -1, mutation: "directory", kind: "dir", bytes: new Uint8Array() });
    const loop = outcome({ id: -1, mutation: "loop", kind: "loop", bytes: new Uint8Array() });
    expect(!dir.ok && dir.printed).toContain("is a directory");
    expect(!loop.ok && loop.printed).toMatch(/cannot read .*devflow\.toml/);
  });

  test("a 200,000-character value is cut to a readable message", () => {
    const o = outcome({
      id: -1,
      mutation: "huge-string",
      kind: "file",
      bytes: new TextEncoder().encode(`[targets]\npr = ["${"t".repeat(200_000)}"]\n`),
    });
    expect(o.ok).toBe(false);
    if (!o.ok) {
      expect(o.printed.length).toBeLessThan(1200);
      expect(o.printed).toContain("more characters");
    }
  });
});
