// The canonical command model: `<primary>:<selector>`, default selectors, and parsing
// with suggestions. Knows command names only, never what they mean for a stack.
import type { CommandRef } from "./types.ts";
import { UserError } from "../lib/errors.ts";
import { didYouMean } from "../lib/suggest.ts";

/** Primaries whose meaning comes from stack extensions. */
export const TASK_PRIMARIES = ["setup", "fmt", "lint", "build", "test", "package", "check", "release"] as const;

const DEFAULT_SELECTOR: Record<string, string> = {
  setup: "deps",
  fmt: "check",
  lint: "static",
  build: "debug",
  test: "unit",
  package: "artifact",
  check: "pr",
  release: "candidate",
};

/** Selectors every stack understands; extensions may add more through their capabilities. */
export const KNOWN_SELECTORS: Record<string, string[]> = {
  setup: ["deps", "doctor"],
  fmt: ["check", "fix"],
  lint: ["static", "fix"],
  build: ["debug", "release"],
  test: ["unit", "integration", "smoke", "all"],
  package: ["artifact"],
  release: ["candidate"],
};

/** Commands that change files or the outside world: never cached, never run beside their stack's other tasks. */
export function isMutating(ref: CommandRef): boolean {
  return ref.selector === "fix" || ref.primary === "package" || ref.primary === "release";
}

const NAME = /^[a-z][a-z0-9_-]*$/;

export function formatRef(ref: CommandRef): string {
  return `${ref.primary}:${ref.selector}`;
}

/** Profiles are parsed by validation, expansion and planning alike: each spelling once per run. */
const parsed = new Map<string, Readonly<CommandRef>>();

/**
 * Parse `primary[:selector]`. Validates the shape and the primary; whether the selector
 * is runnable is decided later against the enabled extensions.
 */
export function parseCommandRef(raw: string, where = "command"): CommandRef {
  let ref = parsed.get(raw);
  if (!ref) parsed.set(raw, (ref = Object.freeze(parseFresh(raw, where))));
  return ref as CommandRef;
}

function parseFresh(raw: string, where: string): CommandRef {
  const text = raw.trim();
  const parts = text.split(":");
  if (parts.length > 2 || parts.some((p) => p === "" && parts.length === 2) || text === "") {
    throw new UserError(`${where}: '${raw}' is not a command; expected '<primary>:<selector>' such as 'test:unit'.`);
  }
  const primary = parts[0]!;
  const selector = parts[1] ?? DEFAULT_SELECTOR[primary];
  if (!(TASK_PRIMARIES as readonly string[]).includes(primary)) {
    throw new UserError(
      `${where}: unknown primary '${primary}' in '${raw}'.${didYouMean(primary, TASK_PRIMARIES)}`,
      `Valid primaries: ${TASK_PRIMARIES.join(", ")}.`,
    );
  }
  if (!selector || !NAME.test(selector)) {
    throw new UserError(`${where}: malformed selector in '${raw}'; selectors are lower-case words like 'unit' or 'check'.`);
  }
  return { primary, selector };
}

/** Every `primary:selector` the core knows by name, for suggestions. */
export function knownCommands(extra: Iterable<string> = []): string[] {
  const all = new Set<string>(extra);
  for (const [p, sels] of Object.entries(KNOWN_SELECTORS)) for (const s of sels) all.add(`${p}:${s}`);
  return [...all].sort();
}
