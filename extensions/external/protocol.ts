// External extensions: `devflow-ext-<name>` executables speaking JSON on stdio (the original
// devflow protocol: --discover, --build-action; plus the optional --describe, and --warm-action
// for the commands --describe says it warms). Each call is bounded in time and output so a
// broken extension costs one clear error, never a hang.
import { realpathSync, statSync, accessSync, constants } from "node:fs";
import { isAbsolute, join, normalize, relative, resolve, sep } from "node:path";
import * as v from "valibot";
import type { ActionResult, CacheMount, CommandRef, ExecutionAction, Extension, ExtensionContext, ToolPin } from "../../src/sdk/types.ts";
import { UserError } from "../../src/lib/errors.ts";
import { formatRef, isMutating } from "../../src/sdk/command-ref.ts";
import { log } from "../../src/lib/log.ts";
import { redactText } from "../../src/lib/redact.ts";
import { callBounded, CallError, type CallResult } from "../../src/lib/process.ts";
import { relativeInside, validateDependencySpec } from "../../src/sdk/dependencies.ts";

/** What [extensions.<name>] in devflow.toml says about an external extension (the fields read here). */
interface ExtensionConfig {
  path?: string;
  timeout?: number;
  trusted?: boolean;
}

/** The --describe api_version this build understands. */
const API_VERSION = 1;
const DEFAULT_TIMEOUT_S = 10;
/** stdout beyond this is not a protocol answer; the extension is stopped. */

// --- shapes (valibot) ---

const COMMAND = "a command such as 'test' or 'test:unit'";
const Capability = v.pipe(v.string(COMMAND), v.regex(/^[a-z][a-z0-9_-]*(:[a-z][a-z0-9_-]*)?$/, COMMAND));
export const DiscoverSchema = v.array(Capability);
export const ActionSchema = v.object({
  program: v.pipe(v.string(), v.minLength(1, "a non-empty string")),
  args: v.optional(v.array(v.string()), []),
  env: v.optional(v.nullable(v.record(v.string(), v.string()))),
  cwd: v.optional(v.nullable(v.string())),
});
const MountSchema = v.object({ path: v.string(), container: v.string(), env: v.optional(v.nullable(v.string())) });
export const DescribeSchema = v.object({
  api_version: v.pipe(v.number(), v.integer()),
  capabilities: v.optional(DiscoverSchema),
  cache_mounts: v.optional(v.array(MountSchema), []),
  env: v.optional(v.record(v.string(), v.string()), {}),
  fingerprint_inputs: v.optional(v.array(v.string()), []),
  /** `{"inputs": [...], "paths": [...]}`; checked by validateDependencySpec for a message that names the problem. */
  dependencies: v.optional(v.unknown()),
  // The hooks below are checked one by one (DESCRIBED_FIELDS), so a bad value is an error that
  // names it instead of an answer ignored whole.
  task_outputs: v.optional(v.unknown()),
  tool_pins: v.optional(v.unknown()),
  machine_env: v.optional(v.unknown()),
  warm: v.optional(v.unknown()),
});
type Describe = v.InferOutput<typeof DescribeSchema>;

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
/** A program as an action names it and PATH finds it: no '/', so never a file of the project. */
const PROGRAM_NAME = /^[A-Za-z0-9_][A-Za-z0-9._+-]*$/;
const PATH_INSIDE = "a path relative to the project root, without '..'";
const ARGV = 'an argv such as ["tool", "--version"]';

const isPlainObject = (x: unknown): x is Record<string, unknown> => typeof x === "object" && x !== null && !Array.isArray(x);
const objectOf = <K extends v.GenericSchema<string, string>, V extends v.GenericSchema>(what: string, key: K, value: V) =>
  v.pipe(v.custom<Record<string, unknown>>(isPlainObject, what), v.record(key, value));
const RelativePath = v.pipe(
  v.string(PATH_INSIDE),
  v.check((p: string) => relativeInside(p), PATH_INSIDE),
);

/** `task_outputs`: command (`build:debug`, or a bare `build` for every selector) → paths a passing run leaves. */
const TaskOutputsSchema = objectOf(
  "an object from command to a list of paths",
  Capability,
  v.array(RelativePath, `a list of paths (${PATH_INSIDE})`),
);
const PinSchema = v.object(
  {
    file: RelativePath,
    // As the builtin stacks read a pin: trimmed, a leading `v` dropped. Whether it is exact is the task cache's to judge.
    version: v.pipe(
      v.string('a version such as "1.4.2"'),
      v.trim(),
      v.nonEmpty('a version such as "1.4.2"'),
      v.transform((s) => s.replace(/^v(?=\d)/, "")),
    ),
    probe: v.pipe(
      v.array(
        v.pipe(
          v.string(ARGV),
          v.nonEmpty(ARGV),
          v.check((a) => !a.includes("\0"), ARGV),
        ),
        ARGV,
      ),
      v.minLength(1, ARGV),
    ),
  },
  'a pin such as {"file": ".tool-version", "version": "1.4.2", "probe": ["tool", "--version"]}',
);
/** `tool_pins`: program name → the pins naming the exact version of what it runs (every one must match). */
const ToolPinsSchema = objectOf(
  "an object from program name to a list of pins",
  v.pipe(v.string(), v.regex(PROGRAM_NAME, "a program name as an action's 'program' gives it (without '/')")),
  v.array(PinSchema, "a list of pins"),
);
/** `machine_env`: variables naming where the tool lives on this machine, left out of a pinned task's key. */
const MachineEnvSchema = v.array(
  v.pipe(v.string("a variable name"), v.regex(ENV_NAME, "a variable name (letters, digits and '_', not starting with a digit)")),
  "a list of variable names",
);
/** `warm`: the commands --warm-action is asked about (a bare primary: every selector). */
const WarmSchema = v.array(Capability, 'a list of commands such as ["lint:static"]');

/** Each optional hook --describe may declare, with what a correct value looks like. */
const DESCRIBED_FIELDS = {
  task_outputs: { schema: TaskOutputsSchema, example: '{"build": ["dist"], "test:unit": ["coverage"]}' },
  tool_pins: {
    schema: ToolPinsSchema,
    example: '{"tool": [{"file": ".tool-version", "version": "1.4.2", "probe": ["tool", "--version"]}]}',
  },
  machine_env: { schema: MachineEnvSchema, example: '["TOOL_HOME"]' },
  warm: { schema: WarmSchema, example: '["lint:static"]' },
} as const;
type DescribedField = keyof typeof DESCRIBED_FIELDS;

type IssuePath = NonNullable<v.BaseIssue<unknown>["path"]>;

function issuePath(issue: v.BaseIssue<unknown>): string {
  return pathText(issue.path ?? []);
}

function pathText(path: IssuePath | IssuePath[number][]): string {
  return path.map((p) => (typeof p.key === "number" ? `[${p.key}]` : `.${String(p.key)}`)).join("");
}

/** Parse stdout as JSON and check it against a schema; the error says what was printed. */
export function parseAnswer<T extends v.GenericSchema>(schema: T, stdout: string, what: string): v.InferOutput<T> {
  let raw: unknown;
  try {
    raw = JSON.parse(stdout);
  } catch {
    const shown = stdout.trim() === "" ? "nothing" : `${JSON.stringify(excerpt(stdout))}`;
    throw new Error(`printed ${shown} on stdout, which is not JSON; ${what}`);
  }
  return checkAnswer(schema, raw, what);
}

/** Check parsed JSON against a schema; the error names where it went wrong. */
function checkAnswer<T extends v.GenericSchema>(schema: T, raw: unknown, what: string): v.InferOutput<T> {
  const r = v.safeParse(schema, raw);
  if (!r.success) {
    const issue = r.issues[0];
    const where = issue ? issuePath(issue) : "";
    throw new Error(`printed JSON of the wrong shape${where ? ` at ${where}` : ""}: ${issue?.message ?? "invalid"}; ${what}`);
  }
  return r.output;
}

/** A described field's value (undefined when absent or null); a bad one stops the run, naming the extension, the field and the value. */
function describedField<F extends DescribedField>(
  c: Caller,
  d: Describe | undefined,
  field: F,
): v.InferOutput<(typeof DESCRIBED_FIELDS)[F]["schema"]> | undefined {
  const raw = d?.[field];
  if (raw === undefined || raw === null) return undefined;
  const { schema, example } = DESCRIBED_FIELDS[field];
  const r = v.safeParse(schema, raw);
  if (r.success) return r.output as v.InferOutput<(typeof DESCRIBED_FIELDS)[F]["schema"]>;
  const issue = r.issues[0];
  const path = issue.path ?? [];
  const last = path[path.length - 1];
  // A missing key and a bad key are said of the object that holds them; anything else of the value itself.
  const holder = `${field}${pathText(path.slice(0, -1))}`;
  const said =
    last?.origin === "key" && issue.input === undefined
      ? `'${holder}' has no ${JSON.stringify(String(last.key))}; expected ${issue.message}`
      : last?.origin === "key"
        ? `'${holder}' has the key ${JSON.stringify(excerpt(String(issue.input)))}, not ${issue.message}`
        : `'${field}${issuePath(issue)}' is ${shownValue(issue.input)}, not ${issue.message}`;
  throw fail(
    c,
    "--describe",
    `invalid '${field}': ${said}`,
    "",
    `Expected for '${field}' e.g. ${example}. Fix the extension, or set enabled = false under [extensions.${c.name}].`,
  );
}

function shownValue(value: unknown): string {
  const json = JSON.stringify(value);
  return json === undefined ? String(value) : excerpt(json);
}

function excerpt(text: string, max = 80): string {
  const t = text.trim();
  return t.length > max ? `${t.slice(0, max)}…` : t;
}

// --- locating the executable ---

/**
 * `path` relative to the project root (or absolute), else a bare name on PATH, else
 * `devflow-ext-<name>` on PATH. A bare name that exists in the root is taken from there.
 */
function locateExtension(name: string, config: ExtensionConfig, ctx: ExtensionContext, file: string): string {
  const configured = config.path;
  const key = `${file}: extensions.${name}.path`;
  if (configured !== undefined && configured.trim() === "")
    throw new UserError(`${key} is empty.`, `Set it to the extension's file, e.g. path = "tools/devflow-ext-${name}".`);
  const candidate = configured ?? `devflow-ext-${name}`;
  let path: string | null = null;
  if (isAbsolute(candidate) || candidate.includes("/")) path = resolve(ctx.root, candidate);
  else if (configured !== undefined && exists(join(ctx.root, candidate))) path = join(ctx.root, candidate);
  else path = ctx.which(candidate) ?? null;
  if (path === null) {
    throw new UserError(
      `extension '${name}': '${candidate}' was not found ${configured !== undefined ? "in the project root or on PATH" : "on PATH"}.`,
      configured !== undefined
        ? `Fix ${key}, or install the extension.`
        : `Put devflow-ext-${name} on PATH, or set [extensions.${name}] source = "path" and path = "…" in ${file}.`,
    );
  }
  let st;
  try {
    st = statSync(path);
  } catch {
    throw new UserError(`extension '${name}': ${path} does not exist.`, `Fix ${key}.`);
  }
  if (!st.isFile()) throw new UserError(`extension '${name}': ${path} is not a file.`, `Fix ${key}.`);
  try {
    accessSync(path, constants.X_OK);
  } catch {
    throw new UserError(`extension '${name}': ${path} is not executable.`, `Make it executable: chmod +x ${path}`);
  }
  return path;
}

function exists(path: string): boolean {
  try {
    statSync(path);
    return true;
  } catch {
    return false;
  }
}

function exitText(r: CallResult): string {
  return r.signal ? `crashed (killed by ${r.signal})` : `exited with code ${r.exitCode}`;
}

// --- the extension ---

/** Calls are answered once per process: the same extension, flag and input give the same answer. */
const callCache = new Map<string, Promise<CallResult>>();

export function clearCallCache(): void {
  callCache.clear();
}

interface Caller {
  name: string;
  path: string;
  root: string;
  timeoutMs: number;
  env: Record<string, string | undefined>;
}

function call(c: Caller, flag: string, input?: string): Promise<CallResult> {
  const key = `${c.path}\0${c.root}\0${flag}\0${input ?? ""}\0${c.timeoutMs}`;
  let p = callCache.get(key);
  if (!p) {
    p = callBounded([c.path, flag], { cwd: c.root, input, timeoutMs: c.timeoutMs, env: c.env });
    callCache.set(key, p);
  }
  return p;
}

function fail(c: Caller, flag: string, what: string, stderr = "", hint?: string): UserError {
  const err = stderr.trim() ? ` stderr: ${excerpt(redactText(stderr), 300)}` : "";
  return new UserError(
    `extension '${c.name}' (${c.path}) ${flag}: ${what}.${err}`,
    hint ??
      (what.startsWith("did not answer")
        ? `Raise [extensions.${c.name}] timeout (seconds, default ${DEFAULT_TIMEOUT_S}) if it is just slow; otherwise fix it or set enabled = false.`
        : `Try it by hand: ${c.path} ${flag.split(" ")[0]}. Fix the extension, or set enabled = false under [extensions.${c.name}].`),
  );
}

async function checked(c: Caller, flag: string, input?: string): Promise<CallResult> {
  try {
    return await call(c, flag, input);
  } catch (e) {
    if (e instanceof CallError) throw fail(c, flag, e.message);
    throw e;
  }
}

async function discover(c: Caller): Promise<string[]> {
  const r = await checked(c, "--discover");
  if (r.exitCode !== 0 || r.signal) throw fail(c, "--discover", exitText(r), r.stderr);
  try {
    return parseAnswer(DiscoverSchema, r.stdout, 'expected a JSON array of capabilities such as ["test", "lint:static"]');
  } catch (e) {
    throw fail(c, "--discover", (e as Error).message, r.stderr);
  }
}

/** The optional --describe: undefined when the extension does not implement it (or answers badly). */
async function describe(c: Caller): Promise<Describe | undefined> {
  let r: CallResult;
  try {
    r = await call(c, "--describe");
  } catch (e) {
    log.debug(`extension '${c.name}': --describe ${(e as Error).message}; using --discover`);
    return undefined;
  }
  if (r.exitCode !== 0 || r.signal) return undefined;
  // An extension that does not know --describe may print anything (its usage, say): only an
  // object naming an api_version is an answer. A wrong field in one is a broken extension.
  let raw: unknown;
  try {
    raw = JSON.parse(r.stdout);
  } catch {}
  if (typeof raw !== "object" || raw === null || Array.isArray(raw) || !("api_version" in raw)) {
    log.debug(`extension '${c.name}': --describe printed no api_version object; using --discover`);
    return undefined;
  }
  try {
    const d = checkAnswer(DescribeSchema, raw, "expected the --describe object");
    if (d.api_version > API_VERSION) {
      log.warn(
        `extension '${c.name}' speaks --describe api_version ${d.api_version}; this dwf knows ${API_VERSION}. Using --discover only; upgrade dwf for the rest.`,
      );
      return undefined;
    }
    return d;
  } catch (e) {
    throw fail(c, "--describe", (e as Error).message, r.stderr);
  }
}

/**
 * A relative program ("./run-tests", "bin/x") names a file in the project: it is resolved
 * against the project root, must stay inside it, and is rewritten relative to the action's
 * cwd so the host and the container runner (both start in that cwd) find the same file.
 */
export function resolveRelativeProgram(program: string, cwd: string | undefined, root: string): string {
  if (isAbsolute(program) || !program.includes("/")) return program;
  const target = normalize(join(root, program));
  const rel = relative(root, target);
  if (rel === "" || rel === ".." || rel.startsWith(`..${sep}`) || isAbsolute(rel)) {
    throw new Error(`program '${program}' points outside the project root; relative programs are resolved against the project root`);
  }
  const from = resolve(root, cwd ?? ".");
  const out = relative(from, target);
  return out.startsWith("..") ? out : `./${out}`;
}

function toAction(c: Caller, stdout: string): ExecutionAction {
  const a = parseAnswer(ActionSchema, stdout, 'expected an action such as {"program":"make","args":["test"],"env":{}}');
  if (a.cwd && (isAbsolute(a.cwd) || a.cwd.split("/").includes("..")))
    throw new Error(`'cwd' ${JSON.stringify(a.cwd)} must be a path inside the project`);
  const program = resolveRelativeProgram(a.program, a.cwd ?? undefined, c.root);
  const action: ExecutionAction = { program, args: a.args };
  if (a.env && Object.keys(a.env).length) action.env = a.env;
  if (a.cwd) action.cwd = a.cwd;
  return action;
}

const SIGNAL_NAMES: Record<number, string> = {
  1: "SIGHUP",
  2: "SIGINT",
  3: "SIGQUIT",
  4: "SIGILL",
  6: "SIGABRT",
  7: "SIGBUS",
  8: "SIGFPE",
  9: "SIGKILL",
  11: "SIGSEGV",
  13: "SIGPIPE",
  15: "SIGTERM",
};

/** How a call crashed (a signal, or a shell reporting 128 + n for a program it ran); undefined when it exited. */
function crashed(r: CallResult): string | undefined {
  if (r.signal) return exitText(r);
  if (r.exitCode > 128 && r.exitCode < 160) {
    const sig = SIGNAL_NAMES[r.exitCode - 128] ?? `signal ${r.exitCode - 128}`;
    return `crashed (exit ${r.exitCode}: something it ran was killed by ${sig})`;
  }
  return undefined;
}

/**
 * Exit non-zero to decline a command, but not every non-zero exit is a decline: a crash (a
 * signal, or a shell reporting 128 + n for a program it ran) and a refusal of a command the
 * extension listed by name in --discover are broken extensions, never a skipped task.
 */
async function buildAction(c: Caller, ref: CommandRef, claimed: readonly string[]): Promise<ActionResult> {
  const input = JSON.stringify({ primary: ref.primary, selector: ref.selector });
  const shown = formatRef(ref);
  const r = await checked(c, "--build-action", input);
  const crash = crashed(r);
  if (crash) throw fail(c, `--build-action for ${shown}`, crash, r.stderr);
  if (r.exitCode !== 0) {
    const why = excerpt(
      redactText(r.stderr)
        .split("\n")
        .find((l) => l.trim()) ?? "",
      200,
    );
    if (claimed.includes(shown)) {
      throw fail(
        c,
        `--build-action for ${shown}`,
        `exited with code ${r.exitCode}, but its --discover lists ${shown} by name`,
        r.stderr,
        `An extension may decline only commands it does not list exactly (list the bare '${ref.primary}' to decline some selectors). Fix the extension, or remove ${shown} from its capabilities.`,
      );
    }
    return { skip: `${c.name} declined ${shown} (exit ${r.exitCode})${why ? `: ${why}` : ""}` };
  }
  try {
    return { action: toAction(c, r.stdout) };
  } catch (e) {
    throw fail(c, `--build-action for ${formatRef(ref)}`, (e as Error).message, r.stderr);
  }
}

/**
 * The optional --warm-action, asked only about the commands --describe lists under `warm` (so an
 * extension that never heard of it is never called with it). Same stdin as --build-action; an
 * action on stdout is what to run ahead of the command. Nothing to warm: exit 0 printing nothing
 * or `null`, or any other exit. Warming is best effort (Extension.warmAction): a crash, a time-out
 * or an answer that is not an action is a warning, and the command is skipped, never a broken run.
 */
async function warmAction(c: Caller, ref: CommandRef): Promise<ActionResult | undefined> {
  const input = JSON.stringify({ primary: ref.primary, selector: ref.selector });
  const shown = formatRef(ref);
  const broken = (what: string, stderr = ""): ActionResult => {
    const err = stderr.trim() ? ` stderr: ${excerpt(redactText(stderr), 300)}` : "";
    log.warn(
      `extension '${c.name}' (${c.path}) --warm-action for ${shown}: ${what}; nothing is warmed for it.${err} Try it by hand: echo '${input}' | ${c.path} --warm-action`,
    );
    return { skip: `${c.name} --warm-action for ${shown} failed: ${excerpt(what, 200)}` };
  };
  let r: CallResult;
  try {
    r = await call(c, "--warm-action", input);
  } catch (e) {
    return broken((e as Error).message);
  }
  const crash = crashed(r);
  if (crash) return broken(crash, r.stderr);
  if (r.exitCode !== 0) {
    log.debug(`extension '${c.name}': --warm-action for ${shown} exited with code ${r.exitCode}: nothing to warm`);
    return undefined;
  }
  const out = r.stdout.trim();
  if (out === "" || out === "null") return undefined;
  try {
    return { action: toAction(c, r.stdout) };
  } catch (e) {
    return broken((e as Error).message, r.stderr);
  }
}

/** Whether a list of commands covers `ref`: by name, or through its bare primary. */
function covers(commands: readonly string[], ref: CommandRef): boolean {
  return commands.includes(ref.primary) || commands.includes(formatRef(ref));
}

export async function loadExternalExtension(
  name: string,
  config: ExtensionConfig,
  ctx: ExtensionContext,
  opts: { file: string; profile?: string },
): Promise<Extension> {
  const located = locateExtension(name, config, ctx, opts.file);
  if (opts.profile === "container" && config.trusted !== true) {
    throw new UserError(
      `extension '${name}' (${located}) is not trusted, and the container profile does not run untrusted extensions on the host.`,
      `If you trust it, set trusted = true under [extensions.${name}] in ${opts.file}; or use --profile host.`,
    );
  }
  let real = located;
  try {
    real = realpathSync(located);
  } catch {
    /* keep the path as found */
  }
  const c: Caller = { name, path: real, root: ctx.root, timeoutMs: Math.round((config.timeout ?? DEFAULT_TIMEOUT_S) * 1000), env: ctx.env };
  // Both at once: an extension without --describe costs no extra round trip.
  const [described, discovered] = await Promise.all([
    describe(c),
    discover(c).then(
      (caps) => ({ caps }),
      (error: unknown) => ({ error }),
    ),
  ]);
  let capabilities: string[];
  if (described?.capabilities) capabilities = described.capabilities;
  else if ("caps" in discovered) capabilities = discovered.caps;
  else throw discovered.error;
  const d = described;
  // A wrong answer here would make every run install (or never): say so now, naming the extension.
  const dependencies =
    d?.dependencies === undefined || d.dependencies === null
      ? undefined
      : validateDependencySpec(d.dependencies, name, `(${real}) --describe: invalid 'dependencies'`);
  const mounts: CacheMount[] = (d?.cache_mounts ?? []).map((m) =>
    m.env != null ? { path: m.path, container: m.container, env: m.env } : { path: m.path, container: m.container },
  );
  // Maps, not the parsed objects: a program or command called "constructor" finds nothing it did not declare.
  const outputs = new Map(Object.entries(describedField(c, d, "task_outputs") ?? {}));
  const pins = new Map(Object.entries(describedField(c, d, "tool_pins") ?? {}));
  const machineEnv = describedField(c, d, "machine_env") ?? [];
  const warm = describedField(c, d, "warm") ?? [];
  return {
    name,
    description: `external extension ${located}${d ? ` (api_version ${d.api_version})` : ""}`,
    detect: () => true,
    capabilities: () => [...capabilities],
    buildAction: (ref) => buildAction(c, ref, capabilities),
    cacheMounts: () => mounts,
    dependencies: () => (dependencies ? { inputs: [...dependencies.inputs], paths: [...dependencies.paths] } : undefined),
    env: () => ({ ...(d?.env ?? {}) }),
    fingerprintInputs: () =>
      [...(d?.fingerprint_inputs ?? []), relative(ctx.root, real).startsWith("..") ? [] : [relative(ctx.root, real)]].flat(),
    taskOutputs: (ref) => [...new Set([...(outputs.get(ref.primary) ?? []), ...(outputs.get(formatRef(ref)) ?? [])])],
    toolPins: (program): ToolPin[] | undefined =>
      pins.get(program)?.map((p) => ({ file: p.file, version: p.version, probe: [...p.probe] })),
    machineEnv: [...machineEnv],
    // Only an extension that says it warms is asked, and only about what it said.
    ...(warm.length > 0 ? { warmAction: (ref: CommandRef) => (covers(warm, ref) ? warmAction(c, ref) : undefined) } : {}),
    // Same rule as the builtin stacks: commands that change files or the world are never reused.
    cacheable: (ref) => !isMutating(ref) && ref.primary !== "setup",
  };
}
