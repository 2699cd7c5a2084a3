// The shape of an extension's dependency spec, checked before dwf acts on it: the spec may
// come from an external extension.
import { isAbsolute, normalize } from "node:path";
import type { DependencySpec } from "./types.ts";
import { UserError } from "../lib/errors.ts";

/** A path relative to the project root that stays inside it: not empty, not absolute, no `..`. */
export function relativeInside(path: unknown): path is string {
  if (typeof path !== "string" || path.trim() === "" || path.includes("\0")) return false;
  if (isAbsolute(path)) return false;
  const n = normalize(path);
  return n !== "." && n !== ".." && !n.startsWith("../") && !n.split(/[\\/]/).includes("..");
}

/** A spec comes from an extension, possibly an external one: check it before acting on it. */
export function validateDependencySpec(spec: unknown, ext: string, where = "returned invalid dependencies"): DependencySpec {
  const bad = (what: string) =>
    new UserError(
      `extension '${ext}' ${where}: ${what}.`,
      "Each of 'inputs' and 'paths' must be a list of paths relative to the project root, without '..'.",
    );
  if (typeof spec !== "object" || spec === null || Array.isArray(spec)) throw bad("expected an object with 'inputs' and 'paths'");
  const s = spec as Record<string, unknown>;
  for (const key of ["inputs", "paths"] as const) {
    const list = s[key];
    if (!Array.isArray(list)) throw bad(`'${key}' must be a list of paths`);
    const wrong = list.find((p) => !relativeInside(p));
    if (wrong !== undefined) throw bad(`'${key}' holds ${JSON.stringify(wrong)}, which is not a path inside the project`);
  }
  const inputs = s.inputs as string[];
  if (inputs.length === 0) throw bad("'inputs' is empty, so nothing could tell an install is out of date");
  return { inputs: [...new Set(inputs.map((p) => normalize(p)))], paths: [...new Set((s.paths as string[]).map((p) => normalize(p)))] };
}
