// Custom stack: a project's own Makefile or justfile, with targets named `<primary>-<selector>`
// (fmt-check, test-unit, …) and the bare primary as a fallback for the usual selector.
import type { ActionResult, CommandRef, Extension, ExtensionContext, ToolRequirement } from "../../src/sdk/types.ts";
import { formatRef, KNOWN_SELECTORS } from "../../src/sdk/command-ref.ts";
import { DEBIAN_BASE, defaultCacheable, isFile, listRoot, quoteList, readText, run, skip } from "../shared.ts";

const JUST_VERSION = "1.38.0";

/** GNU make's own search order. */
const MAKEFILES = ["GNUmakefile", "makefile", "Makefile"];

/** Where a bare target stands in: `make test` is the unit tests, `make fmt` rewrites files. */
const BARE_FALLBACK: Record<string, string> = {
  "test:unit": "test",
  "lint:static": "lint",
  "build:debug": "build",
  "fmt:fix": "fmt",
  "package:artifact": "package",
};

interface Runner {
  tool: "make" | "just";
  file: string;
}

/** Matched against the real directory listing, so a case-insensitive disk reports each file once, by its own name. */
function makefiles(root: string): string[] {
  const names = listRoot(root);
  return MAKEFILES.filter((name) => names.includes(name) && isFile(root, name));
}

/** just finds its file case-insensitively, hidden or not. */
function isJustfile(root: string, name: string): boolean {
  return /^\.?justfile$/i.test(name) && isFile(root, name);
}

function findJustfile(root: string): string | undefined {
  return listRoot(root).find((name) => isJustfile(root, name));
}

/**
 * One run asks for the runner and its targets once per task: read the directory and the
 * Makefile/justfile once per context (a context lives for one command).
 */
const perContext = new WeakMap<ExtensionContext, { runner?: Runner | undefined; targets?: string[] }>();

function memoFor(ctx: ExtensionContext) {
  let m = perContext.get(ctx);
  if (!m) perContext.set(ctx, (m = {}));
  return m;
}

/**
 * just when a justfile exists and just is installed, or when nothing else is there (the
 * container may have just); make otherwise.
 */
function chooseRunner(ctx: ExtensionContext): Runner | undefined {
  const m = memoFor(ctx);
  if (!("runner" in m)) m.runner = findRunner(ctx);
  return m.runner;
}

function findRunner(ctx: ExtensionContext): Runner | undefined {
  const justfile = findJustfile(ctx.root);
  const makefile = makefiles(ctx.root)[0];
  if (justfile && (ctx.which("just") !== null || !makefile)) return { tool: "just", file: justfile };
  return makefile ? { tool: "make", file: makefile } : undefined;
}

const MAKE_RULE = /^([A-Za-z0-9_.\- ]+?)\s*::?(?![:=])/;

/** Explicit rule targets; special targets (.PHONY), pattern rules and variables are not commands. */
export function parseMakeTargets(text: string): string[] {
  const names = new Set<string>();
  for (const line of text.split(/\r?\n/)) {
    const m = MAKE_RULE.exec(line);
    if (!m) continue;
    for (const name of m[1]!.trim().split(/\s+/)) if (name && !name.startsWith(".")) names.add(name);
  }
  return [...names];
}

const JUST_NON_RECIPE = /^(set|export|import|mod)\s/;
const JUST_ASSIGNMENT = /^[A-Za-z0-9_-]+\s*:=/;
const JUST_ALIAS = /^alias\s+([A-Za-z0-9_-]+)\s*:=/;
const JUST_RECIPE = /^@?([A-Za-z0-9_-]+)[^:]*:(?!=)/;

/** Recipe names and aliases; settings, exports, assignments, attributes and bodies are skipped. */
export function parseJustRecipes(text: string): string[] {
  const names = new Set<string>();
  for (const line of text.split(/\r?\n/)) {
    if (/^\s/.test(line) || line.startsWith("#") || line.startsWith("[")) continue;
    const alias = JUST_ALIAS.exec(line);
    if (alias) {
      names.add(alias[1]!);
      continue;
    }
    if (JUST_NON_RECIPE.test(line) || JUST_ASSIGNMENT.test(line)) continue;
    const m = JUST_RECIPE.exec(line);
    if (m) names.add(m[1]!);
  }
  return [...names];
}

/** `runner` is always chooseRunner(ctx), so the targets memoise beside it. */
function targetsOf(ctx: ExtensionContext, runner: Runner): string[] {
  return (memoFor(ctx).targets ??= readTargets(ctx, runner));
}

function readTargets(ctx: ExtensionContext, runner: Runner): string[] {
  const text = readText(ctx.root, runner.file) ?? "";
  return runner.tool === "just" ? parseJustRecipes(text) : parseMakeTargets(text);
}

const PROJECT_TARGET = new RegExp(`^(${Object.keys(KNOWN_SELECTORS).join("|")})-([a-z][a-z0-9_-]*)$`);

/** `test-e2e` → `test:e2e` when the prefix is a task primary. */
function projectCommand(target: string): string | undefined {
  const m = PROJECT_TARGET.exec(target);
  return m ? `${m[1]}:${m[2]}` : undefined;
}

function targetCandidates(ref: CommandRef): string[] {
  const bare = BARE_FALLBACK[formatRef(ref)];
  return [`${ref.primary}-${ref.selector}`, ...(bare ? [bare] : [])];
}

function buildAction(ref: CommandRef, ctx: ExtensionContext): ActionResult {
  const runner = chooseRunner(ctx);
  if (!runner) return skip("no Makefile or justfile");
  const candidates = targetCandidates(ref);
  const targets = targetsOf(ctx, runner);
  const target = candidates.find((name) => targets.includes(name));
  return target ? run(runner.tool, [target]) : skip(`no target ${quoteList(candidates)} in ${runner.file}`);
}

function tools(ctx: ExtensionContext): ToolRequirement[] {
  const runner = chooseRunner(ctx);
  return [
    {
      name: "make",
      version: ["make", "--version"],
      install: "apt-get install make (or your OS packages)",
      optional: runner?.tool !== "make",
    },
    {
      name: "just",
      version: ["just", "--version"],
      install: "see https://just.systems for install options",
      optional: runner?.tool !== "just",
    },
  ];
}

export const custom: Extension = {
  name: "custom",
  description: "Projects driven by their own Makefile or justfile (targets like test-unit, lint-static)",
  detect: (ctx) => chooseRunner(ctx) !== undefined,
  // Every primary: a command without a target is a skip naming the targets tried, not an error.
  // Bare primaries for the canonical selectors, plus every `<primary>-<selector>` target as
  // an exact command, so a project can add its own (`test-e2e:` → `dwf test:e2e`).
  capabilities: (ctx) => {
    const bare = ["setup:deps", "fmt", "lint", "build", "test", "package", "release"];
    const runner = chooseRunner(ctx);
    const own = runner ? targetsOf(ctx, runner).flatMap((t) => projectCommand(t) ?? []) : [];
    // A `setup-deps` target is already among the bare list: each command once (doctor lists them).
    return [...new Set([...bare, ...own])];
  },
  buildAction,
  cacheMounts: () => [],
  env: () => ({}),
  fingerprintInputs: (ctx) => [...makefiles(ctx.root), ...listRoot(ctx.root).filter((name) => isJustfile(ctx.root, name))],
  taskInputs: () => undefined,
  cacheable: defaultCacheable,
  tools,
  dockerfile: () => ({
    base: DEBIAN_BASE,
    packages: ["make"],
    install: [
      `curl --proto '=https' --tlsv1.2 -fsSL https://just.systems/install.sh | bash -s -- --tag ${JUST_VERSION} --to /usr/local/bin`,
    ],
  }),
};
