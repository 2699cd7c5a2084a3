// The layout is the architecture: which folder may import which. Every import in src/ and
// extensions/ (static, type-only, re-exports, dynamic import(), require()) is read from the
// source and checked against one table, so a new arrow against it fails here, by file and line.
import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { dirname, join, normalize } from "node:path";

const ROOT = join(import.meta.dir, "../..");

/**
 * Layer → the layers it may import (its own is always allowed). Arrows run one way:
 * cli → everything; features (ci, init, doctor) → runtime, cache, report, core; runtime, cache,
 * report → core → sdk → lib; extensions → sdk, lib. Nothing outside cli names a builtin stack
 * or the external protocol: the CLI hands them to the registry.
 */
const ALLOWED: Record<string, readonly string[]> = {
  lib: ["package.json"],
  sdk: ["lib"],
  core: ["sdk", "lib"],
  cache: ["core", "sdk", "lib"],
  runtime: ["core", "sdk", "lib"],
  report: ["core", "sdk", "lib"],
  release: ["lib"],
  ci: ["report", "release", "runtime", "core", "sdk", "lib", "templates"],
  init: ["ci", "runtime", "core", "sdk", "lib"],
  doctor: ["runtime", "report", "core", "sdk", "lib"],
  cli: ["extensions/index", "extensions/external", "ci", "init", "doctor", "release", "runtime", "cache", "report", "core", "sdk", "lib"],
  "extensions/index": ["extensions/stack", "sdk"],
  "extensions/stack": ["extensions/shared", "sdk", "lib"],
  "extensions/shared": ["sdk", "lib"],
  "extensions/external": ["sdk", "lib"],
};

/**
 * Arrows against the table that are still being removed, each named by file → target. Empty is
 * the goal: an entry here must say why it is tolerated.
 */
const PENDING: readonly string[] = [];

/** The layer a repository path belongs to (src/ci/github/* is ci; each stack folder is one "extensions/stack"). */
function layerOf(path: string): string {
  const parts = path.split("/");
  if (parts[0] === "src") return parts.length > 2 ? parts[1]! : `src/${parts[1]}`;
  if (parts[0] === "extensions") {
    if (parts.length === 2) return `extensions/${parts[1]!.replace(/\.ts$/, "")}`;
    return parts[1] === "external" ? "extensions/external" : "extensions/stack";
  }
  return parts[0]!;
}

interface Import {
  file: string;
  line: number;
  spec: string;
}

/** Comments out, line numbers kept: a commented-out import is no arrow, and `//` inside strings survives. */
function stripComments(text: string): string {
  return text.replace(/\/\*[\s\S]*?\*\//g, (c) => c.replace(/[^\n]/g, " ")).replace(/^\s*\/\/.*$/gm, "");
}

/** Every module specifier in a file; an import whose target is computed cannot be checked, so it is refused. */
export function importsOf(file: string, source: string): { imports: Import[]; computed: Import[] } {
  const text = stripComments(source);
  const lineAt = (i: number) => text.slice(0, i).split("\n").length;
  const imports: Import[] = [];
  const computed: Import[] = [];
  for (const m of text.matchAll(/(?:\bfrom|\bimport|\brequire)\s*\(?\s*(["'])([^"'\n]+)\1/g))
    imports.push({ file, line: lineAt(m.index!), spec: m[2]! });
  for (const m of text.matchAll(/\b(?:import|require)\s*\((?!\s*["'])/g))
    computed.push({ file, line: lineAt(m.index!), spec: text.slice(m.index!, m.index! + 40).split("\n")[0]! });
  return { imports, computed };
}

function sourceFiles(): string[] {
  const files: string[] = [];
  for (const dir of ["src", "extensions"]) for (const f of new Bun.Glob(`${dir}/**/*.ts`).scanSync({ cwd: ROOT })) files.push(f);
  return files.sort();
}

/** The arrows against ALLOWED, as `file:line: layer → layer (spec)`. */
export function violations(files: { path: string; text: string }[]): string[] {
  const bad: string[] = [];
  for (const { path, text } of files) {
    const from = layerOf(path);
    const { imports, computed } = importsOf(path, text);
    for (const c of computed) bad.push(`${path}:${c.line}: computed import target cannot be checked (${c.spec.trim()})`);
    for (const imp of imports) {
      if (!imp.spec.startsWith(".")) continue; // a package or node: builtin
      const target = normalize(join(dirname(path), imp.spec));
      if (target.startsWith("..")) {
        bad.push(`${path}:${imp.line}: imports ${imp.spec}, outside the repository`);
        continue;
      }
      const to = layerOf(target);
      const otherStack = from === "extensions/stack" && to === from && path.split("/")[1] !== target.split("/")[1];
      if (otherStack) {
        bad.push(`${path}:${imp.line}: one stack imports another (${imp.spec}); shared code goes to extensions/shared.ts`);
        continue;
      }
      if (to === from || ALLOWED[from]?.includes(to)) continue;
      const arrow = `${path} → ${target}`;
      if (PENDING.includes(arrow)) continue;
      bad.push(`${path}:${imp.line}: ${from} → ${to} is not in the table (${imp.spec})`);
    }
  }
  return bad;
}

describe("architecture", () => {
  const files = sourceFiles().map((path) => ({ path, text: readFileSync(join(ROOT, path), "utf8") }));

  test("every file belongs to a layer of the table", () => {
    const unknown = [...new Set(files.map((f) => layerOf(f.path)))].filter((l) => !(l in ALLOWED));
    expect(unknown).toEqual([]);
  });

  test("every import follows the table", () => {
    expect(violations(files)).toEqual([]);
  });

  test("every pending exception still exists (a fixed one leaves the list)", () => {
    const arrows = new Set(
      files.flatMap((f) =>
        importsOf(f.path, f.text)
          .imports.filter((i) => i.spec.startsWith("."))
          .map((i) => `${f.path} → ${normalize(join(dirname(f.path), i.spec))}`),
      ),
    );
    expect(PENDING.filter((p) => !arrows.has(p))).toEqual([]);
  });

  test("the check sees static, type-only, re-exported, dynamic and required imports, and refuses computed ones", () => {
    const text = [
      `import { a } from "../cli/x.ts";`,
      `import type { B } from "../runtime/y.ts";`,
      `export { c } from "../cache/z.ts";`,
      `const d = await import(\n  "../report/w.ts"\n);`,
      `const e = require("../../extensions/index.ts") as typeof import("../../extensions/index.ts");`,
      `const f = await import(name);`,
      `// import { old } from "../cli/gone.ts";`,
      `import { ok } from "../sdk/types.ts";`,
    ].join("\n");
    const found = violations([{ path: "src/core/example.ts", text }]);
    expect(found).toEqual([
      "src/core/example.ts:8: computed import target cannot be checked (import(name);)",
      "src/core/example.ts:1: core → cli is not in the table (../cli/x.ts)",
      "src/core/example.ts:2: core → runtime is not in the table (../runtime/y.ts)",
      "src/core/example.ts:3: core → cache is not in the table (../cache/z.ts)",
      "src/core/example.ts:4: core → report is not in the table (../report/w.ts)",
      "src/core/example.ts:7: core → extensions/index is not in the table (../../extensions/index.ts)",
      "src/core/example.ts:7: core → extensions/index is not in the table (../../extensions/index.ts)",
    ]);
  });

  test("a stack imports only the SDK, lib and extensions/shared.ts, never another stack", () => {
    expect(
      violations([
        { path: "extensions/go/index.ts", text: `import { x } from "../rust/index.ts";\nimport { y } from "../../src/core/config.ts";` },
      ]),
    ).toEqual([
      "extensions/go/index.ts:1: one stack imports another (../rust/index.ts); shared code goes to extensions/shared.ts",
      "extensions/go/index.ts:2: extensions/stack → core is not in the table (../../src/core/config.ts)",
    ]);
  });
});

// Stack knowledge lives in extensions/: no toolchain, tool or lockfile name appears under src/.
test("src/ names no toolchain (orchestration is generic)", () => {
  const banned = /\b(cargo|npm|pnpm|yarn|pytest|gofmt|rustup|clippy|Cargo\.lock|package-lock|rustc|nextest|ruff|pip|uv\.lock|go\.mod)\b/i;
  const hits: string[] = [];
  for (const f of new Bun.Glob("src/**/*.ts").scanSync({ cwd: ROOT })) {
    const text = readFileSync(join(ROOT, f), "utf8");
    text.split("\n").forEach((line, i) => banned.test(line) && hits.push(`${f}:${i + 1}: ${line.trim()}`));
  }
  expect(hits).toEqual([]);
});
