// Shared by the per-stack extension tests: throwaway project trees, an extension context with
// a chosen PATH and environment, and short ways to ask an extension for an action or a skip.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import type { ActionResult, CommandRef, DependencySpec, Extension, ExtensionContext } from "../../../src/sdk/types.ts";
import { builtinByName } from "../../../extensions/index.ts";

const roots: string[] = [];

/** Remove every project made since the last call; each test file runs it in afterEach. */
export function cleanup(): void {
  for (const root of roots.splice(0)) rmSync(root, { recursive: true, force: true });
}

/** A temp project with the given files (content by relative path; a trailing "/" makes a directory). */
export function project(files: Record<string, string> = {}): string {
  const root = mkdtempSync(join(tmpdir(), "dwf-ext-"));
  roots.push(root);
  writeFiles(root, files);
  return root;
}

export function writeFiles(root: string, files: Record<string, string>): void {
  for (const [rel, content] of Object.entries(files)) {
    if (rel.endsWith("/")) {
      mkdirSync(join(root, rel), { recursive: true });
      continue;
    }
    mkdirSync(dirname(join(root, rel)), { recursive: true });
    writeFileSync(join(root, rel), content);
  }
}

export function ctx(root: string, onPath: string[] = [], env: Record<string, string> = {}): ExtensionContext {
  return { root, env, which: (p) => (onPath.includes(p) ? `/usr/bin/${p}` : null) };
}

export function ext(name: string): Extension {
  const e = builtinByName(name);
  if (!e) throw new Error(`no builtin ${name}`);
  return e;
}

export function ref(raw: string): CommandRef {
  const [primary, selector] = raw.split(":") as [string, string];
  return { primary, selector };
}

export async function argv(e: Extension, raw: string, c: ExtensionContext): Promise<string[]> {
  const result = await e.buildAction(ref(raw), c);
  if (!("action" in result)) throw new Error(`expected an action for ${raw}, got skip: ${result.skip}`);
  return [result.action.program, ...result.action.args];
}

export async function skipOf(e: Extension, raw: string, c: ExtensionContext): Promise<string> {
  const result: ActionResult = await e.buildAction(ref(raw), c);
  if (!("skip" in result)) throw new Error(`expected a skip for ${raw}, got ${JSON.stringify(result.action)}`);
  return result.skip;
}

/** What a builtin's setup:deps installs for a project made of `files`. */
export async function deps(
  name: string,
  files: Record<string, string>,
  onPath: string[] = [],
  env: Record<string, string> = {},
): Promise<DependencySpec | undefined> {
  return ext(name).dependencies!(ctx(project(files), onPath, env));
}

export const pkg = (scripts: Record<string, string>, extra: Record<string, unknown> = {}) =>
  JSON.stringify({ name: "x", scripts, ...extra });
