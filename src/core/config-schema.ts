// devflow.toml validation: smol-toml parses, valibot checks the shape, and every problem becomes
// one UserError naming file, key path, what was found and what is allowed. Loaded only when a
// config must be validated (config.ts remembers configs that passed).
import * as v from "valibot";
import { parse, TomlError } from "smol-toml";
import { UserError } from "../lib/errors.ts";
import { didYouMean } from "../lib/suggest.ts";
import { parseCommandRef } from "../sdk/command-ref.ts";
import { checkImageName } from "./image-name.ts";

const Name = v.pipe(v.string(), v.regex(/^[a-z][a-z0-9_-]*$/, "a lower-case name such as 'pr'"));

const ProjectSchema = v.strictObject({
  name: v.optional(v.string()),
  stack: v.optional(v.array(v.string())),
});
const RuntimeSchema = v.strictObject({
  profile: v.optional(v.picklist(["host", "container", "auto"])),
});
const ContainerSchema = v.strictObject({
  image: v.optional(v.string()),
  engine: v.optional(v.picklist(["docker", "podman", "auto"])),
  fingerprint_inputs: v.optional(v.array(v.string())),
  dockerfile: v.optional(v.string()),
  user: v.optional(v.string()),
  platforms: v.optional(v.array(v.string())),
});
const RemoteCacheSchema = v.strictObject({
  url: v.optional(
    v.pipe(v.string(), v.regex(/^https?:\/\/[^\s/?#]+[^\s?#]*$/, "an http:// or https:// URL such as 'https://cache.example.com'")),
  ),
  team: v.optional(v.pipe(v.string(), v.regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, "a team id or slug (letters, digits, '.', '_' and '-')"))),
  read_only: v.optional(v.boolean()),
  /** Seconds: the budget for all of a run's lookups together. */
  timeout: v.optional(v.pipe(v.number(), v.minValue(0.1), v.maxValue(600))),
});
const CacheSchema = v.strictObject({
  root: v.optional(v.string()),
  strategy: v.optional(v.string()),
  tasks: v.optional(v.boolean()),
  remote: v.optional(RemoteCacheSchema),
  /** Extra outputs per command (`"build:debug" = ["out"]`), stored with the result and restored on a hit. */
  outputs: v.optional(v.record(v.string(), v.array(v.pipe(v.string(), v.minLength(1))))),
});
const DepsSchema = v.strictObject({
  install: v.optional(v.boolean()),
});
const ExtensionSchema = v.strictObject({
  source: v.optional(v.picklist(["builtin", "path"])),
  path: v.optional(v.string()),
  version: v.optional(v.string()),
  api_version: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1))),
  capabilities: v.optional(v.array(v.string())),
  required: v.optional(v.boolean()),
  trusted: v.optional(v.boolean()),
  enabled: v.optional(v.boolean()),
  timeout: v.optional(v.pipe(v.number(), v.minValue(0.1), v.maxValue(3600))),
});
const CiSchema = v.strictObject({
  mode: v.optional(v.picklist(["jobs", "single"])),
  profile: v.optional(v.string()),
  platforms: v.optional(v.array(v.string())),
  dwf_version: v.optional(v.string()),
  branch: v.optional(v.string()),
  registry_image: v.optional(v.string()),
  dwf_sha256: v.optional(
    v.pipe(v.string(), v.regex(/^[0-9a-f]{64}$/, "the 64 lower-case hex digits of the SHA-256 of the release's dwf-linux-x64.tar.gz")),
  ),
});

const ConfigSchema = v.strictObject({
  project: v.optional(ProjectSchema),
  runtime: v.optional(RuntimeSchema),
  container: v.optional(ContainerSchema),
  cache: v.optional(CacheSchema),
  deps: v.optional(DepsSchema),
  targets: v.optional(v.record(Name, v.array(v.string()))),
  extensions: v.optional(v.record(Name, ExtensionSchema)),
  ci: v.optional(CiSchema),
});

export type Config = v.InferOutput<typeof ConfigSchema>;
export type ExtensionConfig = v.InferOutput<typeof ExtensionSchema>;

export function parseConfigText(text: string, file: string): Config {
  let raw: unknown;
  try {
    raw = parse(text);
  } catch (e) {
    if (e instanceof TomlError) {
      const first = e.message.split("\n")[0]!.replace(/^Invalid TOML document: /, "");
      throw new UserError(`${file}:${e.line}:${e.column}: invalid TOML: ${first}`, "Fix the syntax at that line and column.");
    }
    // smol-toml can throw RangeError on pathological nesting; still a user error.
    throw new UserError(`${file}: invalid TOML: ${(e as Error).message}`);
  }
  rejectSecretsInFile(raw, file);
  const result = v.safeParse(ConfigSchema, raw);
  if (!result.success) throw new UserError(describeIssue(result.issues[0], file));
  const config = result.output;
  validateTargets(config, file);
  if (config.container?.image !== undefined) checkImageName(config.container.image, `${file}: container.image`);
  validateOutputs(config, file);
  if (config.ci?.registry_image !== undefined) checkImageName(config.ci.registry_image, `${file}: ci.registry_image`);
  return config;
}

function keyPath(issue: v.BaseIssue<unknown>): string {
  let out = "";
  for (const item of issue.path ?? []) {
    const key = item.key as string | number;
    if (typeof key === "number") out += `[${key}]`;
    else out += out === "" ? key : `.${/^[A-Za-z0-9_-]+$/.test(key) ? key : JSON.stringify(key)}`;
  }
  return out;
}

function describeValue(value: unknown): string {
  if (value === undefined) return "nothing";
  if (Array.isArray(value)) return "an array";
  if (value instanceof Date) return "a date";
  if (typeof value === "object" && value !== null) return "a table";
  // TOML spells these nan, inf and -inf; JSON would print them as null.
  if (typeof value === "number" && !Number.isFinite(value)) return Number.isNaN(value) ? "nan" : value > 0 ? "inf" : "-inf";
  const text = JSON.stringify(value);
  return `${typeof value} ${text.length > 60 ? text.slice(0, 57) + "..." : text}`;
}

const ALLOWED_KEYS: Record<string, string[]> = {
  "": Object.keys(ConfigSchema.entries),
  project: Object.keys(ProjectSchema.entries),
  runtime: Object.keys(RuntimeSchema.entries),
  container: Object.keys(ContainerSchema.entries),
  cache: Object.keys(CacheSchema.entries),
  deps: Object.keys(DepsSchema.entries),
  "cache.remote": Object.keys(RemoteCacheSchema.entries),
  ci: Object.keys(CiSchema.entries),
  extension: Object.keys(ExtensionSchema.entries),
};

function describeIssue(issue: v.BaseIssue<unknown> | undefined, file: string): string {
  if (!issue) return `${file}: invalid configuration.`;
  const path = keyPath(issue);
  // A strict_object issue is an unknown key, or (expecting "Object") a value that is no table at all.
  if (issue.type === "strict_object" && issue.expected === "never") {
    const parentPath = (issue.path ?? []).slice(0, -1).map((p) => String(p.key));
    const section = parentPath[0] === "extensions" ? "extension" : parentPath.join(".");
    const key = String(issue.path?.at(-1)?.key ?? "");
    const allowed = ALLOWED_KEYS[section] ?? [];
    return `${file}: unknown key '${path}'.${didYouMean(key, allowed)} Allowed keys${section ? ` in [${parentPath.join(".")}]` : " at the top level"}: ${allowed.join(", ")}.`;
  }
  const found = describeValue(issue.input);
  if (issue.path?.at(-1)?.origin === "key") {
    return `${file}: '${path}' is not a valid name: use lower-case letters, digits, '-' and '_', starting with a letter.`;
  }
  const expected = describeExpected(issue);
  return `${file}: ${path || "(top level)"}: expected ${expected}, found ${found}.`;
}

const TYPE_WORDS: Record<string, string> = {
  string: "a string",
  number: "a number",
  boolean: "true or false",
  array: "an array",
  object: "a table",
  record: "a table",
  strict_object: "a table",
};

function describeExpected(issue: v.BaseIssue<unknown>): string {
  if (issue.type === "picklist")
    return `one of ${(issue.expected ?? "")
      .replace(/^\(|\)$/g, "")
      .replaceAll('"', "'")
      .replaceAll(" | ", ", ")}`;
  if (issue.type === "regex") return issue.message.startsWith("Invalid") ? `a value matching ${String(issue.requirement)}` : issue.message;
  if (issue.kind === "schema") return TYPE_WORDS[issue.type] ?? issue.expected ?? issue.type;
  const bound = issue.requirement as number;
  if (issue.type === "min_value") return `a number of at least ${bound}`;
  if (issue.type === "max_value") return `a number of at most ${bound}`;
  if (issue.type === "integer") return "a whole number";
  return issue.message;
}

function validateTargets(config: Config, file: string): void {
  for (const [profile, commands] of Object.entries(config.targets ?? {})) {
    commands.forEach((raw, i) => {
      const ref = parseCommandRef(raw, `${file}: targets.${profile}[${i}]`);
      if (ref.primary === "check" && ref.selector === profile) {
        throw new UserError(`${file}: targets.${profile}[${i}]: profile '${profile}' includes itself ('${raw}').`);
      }
    });
  }
}

/** Key names that would put a credential in a file that is committed. */
const SECRET_KEYS = /token|secret|password|signature|key$/i;

/** A token in devflow.toml would be committed with it: say where it goes instead (before the shape check). */
function rejectSecretsInFile(raw: unknown, file: string): void {
  const remote = (raw as { cache?: { remote?: unknown } } | null)?.cache?.remote;
  if (typeof remote !== "object" || remote === null) return;
  for (const k of Object.keys(remote)) {
    if (!SECRET_KEYS.test(k)) continue;
    const env = /sign/i.test(k) ? "DWF_REMOTE_CACHE_SIGNATURE_KEY" : "DWF_REMOTE_CACHE_TOKEN";
    throw new UserError(
      `${file}: cache.remote.${k}: secrets never go in devflow.toml (it is committed with the project).`,
      `Remove the key and set ${env} in the environment instead (in CI: a repository secret).`,
    );
  }
}

function validateOutputs(config: Config, file: string): void {
  for (const [command, paths] of Object.entries(config.cache?.outputs ?? {})) {
    const where = `${file}: cache.outputs.${JSON.stringify(command)}`;
    parseCommandRef(command, where);
    paths.forEach((p, i) => {
      const parts = p.replace(/\/$/, "").split("/");
      if (p.startsWith("/") || p.includes("\\") || parts.some((s) => s === "" || s === "." || s === "..")) {
        throw new UserError(`${where}[${i}]: '${p}' must be a path relative to the project root, without '.', '..' or '//'.`);
      }
    });
  }
}
