// The extension contract: what every Extension — a builtin stack or an external devflow-ext-*
// executable behind the subprocess loader — must answer, checked the same way for all of them.
// `contractCases` lists the checks (each one can fail on its own: contract.test.ts breaks an
// extension one way per case and expects exactly that case to reject); `extensionContract`
// registers them as tests.
import { describe, test } from "bun:test";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { isAbsolute, join, normalize } from "node:path";
import type { ActionResult, CommandRef, ExecutionAction, Extension, ExtensionContext } from "../../../src/sdk/types.ts";
import { formatRef, isMutating, KNOWN_SELECTORS, TASK_PRIMARIES } from "../../../src/sdk/command-ref.ts";
import { UserError } from "../../../src/lib/errors.ts";
import { writeFiles } from "./helpers.ts";

export interface ContractSubject {
  /** The name the registry knows it by (a builtin's name, or the [extensions.<name>] key). */
  name: string;
  /** The extension serving a project root: external extensions are loaded for the root they serve. */
  load(ctx: ExtensionContext): Extension | Promise<Extension>;
  /**
   * A project in which every command the extension lists resolves to an action: its marker files
   * plus the scripts, targets, test folders and lockfiles its commands and installs look for.
   */
  fixture: Record<string, string>;
  /** Programs found on PATH in that project (the rest are absent). */
  onPath?: string[];
  /**
   * "marker": the stack applies when its files are there (detect() answers from the tree).
   * "configured": it is named in devflow.toml and applies wherever it is configured.
   */
  detection: "marker" | "configured";
  /** The fewest files that make a marker stack apply (default: the whole fixture). */
  marker?: Record<string, string>;
  /** Its fixture declares dependencies, so dependencies() must describe an install. */
  installs?: boolean;
  /** Builtin stacks say how their toolchain gets into the image. */
  image?: boolean;
}

export interface ContractCase {
  id: string;
  title: string;
  check(): Promise<void>;
}

/** Values of secret-looking variables in the environment every contract context carries. */
export const CONTRACT_SECRETS = { DWF_CONTRACT_TOKEN: "tok-contract-8c1f2e9a", DWF_CONTRACT_PASSWORD: "pw-contract-77d3b0c4" };
const NONSENSE_SELECTOR = "nonesuchcontract";
const CAPABILITY = /^[a-z][a-z0-9_-]*(:[a-z][a-z0-9_-]*)?$/;
const EXT_NAME = /^[a-z][a-z0-9_-]*$/;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
/** The image's home (the container layout every cache mount lands in). */
const IMAGE_HOME = "/home/dwf/";

/** What a broken promise throws (anything else thrown by a check is a bug in the check). */
export class ContractViolation extends Error {}

function violated(what: string): never {
  throw new ContractViolation(what);
}

/** A path relative to the project root that stays inside it. */
function insideProject(path: unknown): boolean {
  if (typeof path !== "string" || path.trim() === "" || path.includes("\0") || isAbsolute(path)) return false;
  const n = normalize(path);
  return n !== "." && !n.split("/").includes("..");
}

function checkPaths(what: string, paths: unknown): void {
  if (!Array.isArray(paths)) violated(`${what} is not a list: ${JSON.stringify(paths)}`);
  for (const p of paths) if (!insideProject(p)) violated(`${what} holds ${JSON.stringify(p)}, not a relative path inside the project`);
}

function checkEnv(what: string, env: unknown): void {
  if (typeof env !== "object" || env === null || Array.isArray(env))
    violated(`${what} is not an object of variables: ${JSON.stringify(env)}`);
  for (const [k, v] of Object.entries(env)) {
    if (!ENV_NAME.test(k)) violated(`${what} sets ${JSON.stringify(k)}, which is not a variable name`);
    if (typeof v !== "string" || v.includes("\0")) violated(`${what} sets ${k} to ${JSON.stringify(v)}, not a string without NUL bytes`);
  }
}

/** An action's promises: an argv with a program, variable names, and a cwd that exists inside the project. */
function checkAction(shown: string, a: ExecutionAction, root: string): void {
  if (typeof a.program !== "string" || a.program.trim() === "" || a.program.includes("\0"))
    violated(`${shown}: argv[0] ${JSON.stringify(a.program)} is empty`);
  if (!Array.isArray(a.args) || a.args.some((x) => typeof x !== "string" || x.includes("\0")))
    violated(`${shown}: args ${JSON.stringify(a.args)} are not strings`);
  if (a.env !== undefined) checkEnv(`${shown}: the action's env`, a.env);
  if (a.cwd !== undefined && !insideProject(a.cwd)) violated(`${shown}: cwd ${JSON.stringify(a.cwd)} is not inside the project`);
  if (a.cwd !== undefined && !existsSync(join(root, a.cwd))) violated(`${shown}: cwd ${a.cwd} does not exist in the project`);
}

/** Whether a capability list covers a command: exactly, or through its bare primary. */
function covers(capabilities: readonly string[], ref: CommandRef): boolean {
  return capabilities.includes(formatRef(ref)) || capabilities.includes(ref.primary);
}

/** The commands a capability list promises: exact ones as written, a bare primary as every selector the core knows for it. */
export function promisedCommands(capabilities: readonly string[]): CommandRef[] {
  const out = new Map<string, CommandRef>();
  for (const cap of capabilities) {
    const [primary, selector] = cap.split(":") as [string, string | undefined];
    const selectors = selector ? [selector] : (KNOWN_SELECTORS[primary] ?? []);
    for (const s of selectors) out.set(`${primary}:${s}`, { primary, selector: s });
  }
  return [...out.values()];
}

/** Every command the core knows by name (profiles aside). */
function knownCommands(): CommandRef[] {
  return Object.entries(KNOWN_SELECTORS).flatMap(([primary, sels]) => sels.map((selector) => ({ primary, selector })));
}

export function contractCases(subject: ContractSubject): ContractCase[] {
  const roots: string[] = [];
  /** A fresh project, its context (the subject's PATH, secrets in the environment) and the extension serving it. */
  const setUp = async (files: Record<string, string> = subject.fixture) => {
    const root = mkdtempSync(join(tmpdir(), `dwf-contract-${subject.name}-`));
    roots.push(root);
    writeFiles(root, files);
    const onPath = subject.onPath ?? [];
    const env = { PATH: process.env.PATH, HOME: process.env.HOME, ...CONTRACT_SECRETS };
    const ctx: ExtensionContext = { root, env, which: (p) => (onPath.includes(p) ? `/usr/bin/${p}` : null) };
    return { root, ctx, ext: await subject.load(ctx) };
  };
  const withProject = (check: (p: Awaited<ReturnType<typeof setUp>>) => Promise<void>, files?: Record<string, string>) => async () => {
    try {
      await check(await setUp(files));
    } finally {
      for (const r of roots.splice(0)) rmSync(r, { recursive: true, force: true });
    }
  };
  /** Every promised command's action in the fixture; a skip or an error there breaks the contract. */
  const actions = async (ext: Extension, ctx: ExtensionContext) => {
    const out: { ref: CommandRef; result: ActionResult }[] = [];
    for (const ref of promisedCommands(await ext.capabilities(ctx))) out.push({ ref, result: await ext.buildAction(ref, ctx) });
    return out;
  };

  return [
    {
      id: "identity",
      title: "name and description are well-formed",
      check: withProject(async ({ ext }) => {
        if (ext.name !== subject.name) violated(`name is ${JSON.stringify(ext.name)}, expected ${JSON.stringify(subject.name)}`);
        if (!EXT_NAME.test(ext.name)) violated(`name ${JSON.stringify(ext.name)} is not a lower-case word`);
        if (typeof ext.description !== "string" || ext.description.trim() === "" || ext.description.includes("\n")) {
          violated(`description ${JSON.stringify(ext.description)} is not one non-empty line`);
        }
      }),
    },
    {
      id: "capabilities",
      title: "capabilities are commands the core knows, each listed once",
      check: withProject(async ({ ext, ctx }) => {
        const caps = await ext.capabilities(ctx);
        if (!Array.isArray(caps) || caps.length === 0) violated(`capabilities are ${JSON.stringify(caps)}, expected a non-empty list`);
        for (const c of caps) {
          if (typeof c !== "string" || !CAPABILITY.test(c))
            violated(`capability ${JSON.stringify(c)} is not 'primary' or 'primary:selector'`);
          const primary = c.split(":")[0]!;
          if (!(TASK_PRIMARIES as readonly string[]).includes(primary) || primary === "check")
            violated(`capability ${c}: '${primary}' is not a task primary`);
        }
        if (new Set(caps).size !== caps.length) violated(`capabilities list a command twice: ${caps.join(", ")}`);
      }),
    },
    {
      id: "resolves",
      title: "every command it lists resolves to an action in a project that has its files",
      check: withProject(async ({ ext, ctx }) => {
        for (const { ref, result } of await actions(ext, ctx)) {
          if (!("action" in result)) violated(`${formatRef(ref)} is listed but gave ${JSON.stringify(result)}`);
        }
      }),
    },
    {
      id: "actions",
      title: "actions are an argv with a program, variable names, and a cwd inside the project",
      check: withProject(async ({ ext, ctx, root }) => {
        for (const { ref, result } of await actions(ext, ctx)) if ("action" in result) checkAction(formatRef(ref), result.action, root);
      }),
    },
    {
      id: "secrets",
      title: "no secret value from the environment reaches an answer",
      check: withProject(async ({ ext, ctx }) => {
        const answers = {
          description: ext.description,
          actions: await actions(ext, ctx),
          env: await ext.env?.(ctx),
          mounts: await ext.cacheMounts?.(ctx),
          tools: await ext.tools?.(ctx),
          fingerprint: await ext.fingerprintInputs?.(ctx),
          deps: await ext.dependencies?.(ctx),
        };
        const text = JSON.stringify(answers);
        for (const [name, value] of Object.entries(CONTRACT_SECRETS))
          if (text.includes(value)) violated(`the value of ${name} appears in what it returned`);
      }),
    },
    {
      id: "unknown-command",
      title: "a command it does not offer is a clear skip (or a user error) naming it, never an action or a crash",
      check: withProject(async ({ ext, ctx }) => {
        const caps = await ext.capabilities(ctx);
        // A bare primary offers every selector, even one the core does not know (the core rejects
        // those before asking): the made-up selector goes under a primary it does not list bare.
        const bare = new Set(caps.filter((c) => !c.includes(":")));
        const free = TASK_PRIMARIES.find((p) => p !== "check" && !bare.has(p));
        const nonsense: CommandRef = { primary: free ?? "test", selector: NONSENSE_SELECTOR };
        for (const ref of [nonsense, ...knownCommands().filter((r) => !covers(caps, r))]) {
          const shown = formatRef(ref);
          let result: ActionResult;
          try {
            result = await ext.buildAction(ref, ctx);
          } catch (e) {
            if (!(e instanceof UserError) || e.message.trim() === "")
              violated(`${shown} crashed instead of declining: ${(e as Error)?.stack ?? String(e)}`);
            if (ref === nonsense && !e.message.includes(NONSENSE_SELECTOR))
              violated(`the error for ${shown} does not name it: ${e.message}`);
            continue;
          }
          if (covers(caps, ref) && result && "action" in result) continue;
          if (!result || !("skip" in result)) violated(`${shown} is not offered but gave ${JSON.stringify(result)}`);
          if (typeof result.skip !== "string" || result.skip.trim() === "") violated(`${shown} is skipped without a reason`);
          if (ref === nonsense && !result.skip.includes(NONSENSE_SELECTOR))
            violated(`the reason for skipping ${shown} does not name it: ${result.skip}`);
        }
      }),
    },
    {
      id: "detect",
      title:
        subject.detection === "marker"
          ? "detect() is true on its marker files and false on an empty folder"
          : "applies wherever it is configured",
      check: async () => {
        try {
          const marker = await setUp(subject.marker ?? subject.fixture);
          if ((await marker.ext.detect(marker.ctx)) !== true) violated("detect() is not true in a project with its marker files");
          const full = await setUp();
          if ((await full.ext.detect(full.ctx)) !== true) violated("detect() is not true in its full fixture");
          if (subject.detection === "marker") {
            const empty = await setUp({});
            if ((await empty.ext.detect(empty.ctx)) !== false) violated("detect() is not false in an empty folder");
          }
        } finally {
          for (const r of roots.splice(0)) rmSync(r, { recursive: true, force: true });
        }
      },
    },
    {
      id: "cache-mounts",
      title: "cache mounts: a relative folder, a container path in the image's home, a variable name",
      check: withProject(async ({ ext, ctx }) => {
        const mounts = (await ext.cacheMounts?.(ctx)) ?? [];
        if (!Array.isArray(mounts)) violated(`cacheMounts() is not a list: ${JSON.stringify(mounts)}`);
        for (const m of mounts) {
          if (!insideProject(m.path)) violated(`cache mount path ${JSON.stringify(m.path)} is not a relative folder inside the cache root`);
          if (
            typeof m.container !== "string" ||
            !m.container.startsWith(IMAGE_HOME) ||
            normalize(m.container) !== m.container.replace(/\/$/, "")
          ) {
            violated(`cache mount ${m.path}: container path ${JSON.stringify(m.container)} is not a clean path under ${IMAGE_HOME}`);
          }
          if (m.env !== undefined && !ENV_NAME.test(m.env))
            violated(`cache mount ${m.path}: env ${JSON.stringify(m.env)} is not a variable name`);
        }
        if (new Set(mounts.map((m) => m.path)).size !== mounts.length) violated("two cache mounts share a folder");
      }),
    },
    {
      id: "fingerprint",
      title: "fingerprint inputs are relative paths inside the project",
      check: withProject(async ({ ext, ctx }) => {
        const inputs = (await ext.fingerprintInputs?.(ctx)) ?? [];
        // `file#lines=…` / `file#json=…` select part of a file: the path is before the '#'.
        checkPaths(
          "fingerprintInputs()",
          Array.isArray(inputs) ? inputs.map((i) => (typeof i === "string" ? i.split("#")[0] : i)) : inputs,
        );
      }),
    },
    {
      id: "dependencies",
      title: "dependencies: relative inputs that exist in its project, relative install paths",
      check: withProject(async ({ ext, ctx, root }) => {
        const spec = await ext.dependencies?.(ctx);
        if (spec === undefined) {
          if (subject.installs) violated("dependencies() says nothing is installed in a project that declares dependencies");
          return;
        }
        checkPaths("dependencies().inputs", spec.inputs);
        checkPaths("dependencies().paths", spec.paths);
        if (spec.inputs.length === 0) violated("dependencies().inputs is empty: nothing could tell an install is out of date");
        for (const i of spec.inputs)
          if (!existsSync(join(root, i))) violated(`dependencies().inputs names ${i}, which the project does not have`);
      }),
    },
    {
      id: "outputs",
      title: "task inputs, task outputs and build outputs are relative paths inside the project",
      check: withProject(async ({ ext, ctx }) => {
        for (const ref of promisedCommands(await ext.capabilities(ctx))) {
          const inputs = ext.taskInputs?.(ref, ctx);
          if (inputs !== undefined) checkPaths(`taskInputs(${formatRef(ref)})`, inputs);
          const outputs = ext.taskOutputs?.(ref, ctx);
          if (outputs !== undefined) checkPaths(`taskOutputs(${formatRef(ref)})`, outputs);
        }
        const built = await ext.buildOutputs?.(ctx);
        if (built !== undefined) {
          checkPaths("buildOutputs().paths", built.paths);
          checkPaths("buildOutputs().inputs", built.inputs);
        }
      }),
    },
    {
      id: "tool-pins",
      title: "tool pins name a file in the project, a version and a probe argv; machine variables are variable names",
      check: withProject(async ({ ext, ctx }) => {
        const programs = new Set<string>();
        for (const { result } of await actions(ext, ctx)) if ("action" in result) programs.add(result.action.program);
        for (const program of programs) {
          const pins = ext.toolPins?.(program, ctx);
          if (pins === undefined) continue;
          if (!Array.isArray(pins)) violated(`toolPins(${program}) is not a list: ${JSON.stringify(pins)}`);
          for (const pin of pins) {
            if (!insideProject(pin.file))
              violated(`toolPins(${program}): file ${JSON.stringify(pin.file)} is not a relative path inside the project`);
            if (typeof pin.version !== "string" || pin.version.trim() === "" || /^v\d/.test(pin.version))
              violated(`toolPins(${program}): version ${JSON.stringify(pin.version)} is not a version without a leading 'v'`);
            if (!Array.isArray(pin.probe) || pin.probe.length === 0 || pin.probe.some((a) => typeof a !== "string" || a === ""))
              violated(`toolPins(${program}): probe ${JSON.stringify(pin.probe)} is not an argv`);
          }
        }
        const machine = ext.machineEnv ?? [];
        if (!Array.isArray(machine)) violated(`machineEnv is not a list: ${JSON.stringify(machine)}`);
        for (const name of machine)
          if (typeof name !== "string" || !ENV_NAME.test(name)) violated(`machineEnv holds ${JSON.stringify(name)}, not a variable name`);
      }),
    },
    {
      id: "warm",
      title: "a warm action is nothing, a skip with a reason, or an action kept to the same rules as any other",
      check: withProject(async ({ ext, ctx, root }) => {
        if (!ext.warmAction) return;
        for (const ref of promisedCommands(await ext.capabilities(ctx))) {
          const shown = `warmAction(${formatRef(ref)})`;
          const result = await ext.warmAction(ref, ctx);
          if (result === undefined) continue;
          if ("action" in result) checkAction(shown, result.action, root);
          else if (typeof result.skip !== "string" || result.skip.trim() === "") violated(`${shown} is skipped without a reason`);
        }
      }),
    },
    {
      id: "cacheable",
      title: "commands that change files or the world are never served from the cache",
      check: withProject(async ({ ext, ctx }) => {
        // The core reuses a result unless cacheable() says no.
        const cacheable = (ref: CommandRef) => (ext.cacheable ? ext.cacheable(ref) : true);
        for (const ref of [...knownCommands(), ...promisedCommands(await ext.capabilities(ctx))]) {
          const answer = cacheable(ref);
          if (typeof answer !== "boolean") violated(`cacheable(${formatRef(ref)}) is ${JSON.stringify(answer)}, not true or false`);
          if ((isMutating(ref) || ref.primary === "setup") && answer)
            violated(`${formatRef(ref)} changes files or the world but may be served from the cache`);
        }
      }),
    },
    {
      id: "env-and-tools",
      title: "its env is variable names with string values; doctor's tools have a name, a version argv and an install hint",
      check: withProject(async ({ ext, ctx }) => {
        if (ext.env) checkEnv("env()", await ext.env(ctx));
        for (const t of (await ext.tools?.(ctx)) ?? []) {
          if (typeof t.name !== "string" || t.name.trim() === "") violated(`a tool has no name: ${JSON.stringify(t)}`);
          if (!Array.isArray(t.version) || t.version.length === 0 || t.version.some((a) => typeof a !== "string" || a === ""))
            violated(`tool ${t.name}: version argv ${JSON.stringify(t.version)} is empty`);
          if (typeof t.install !== "string" || t.install.trim() === "") violated(`tool ${t.name} has no install hint`);
          for (const u of t.usedBy ?? [])
            if (!CAPABILITY.test(u) || !(TASK_PRIMARIES as readonly string[]).includes(u.split(":")[0]!))
              violated(`tool ${t.name}: usedBy ${JSON.stringify(u)} is not a command`);
        }
      }),
    },
    {
      id: "image",
      title: subject.image
        ? "its Dockerfile fragment names a base, packages and install steps"
        : "a Dockerfile fragment, when it has one, names a base, packages and install steps",
      check: withProject(async ({ ext }) => {
        if (!ext.dockerfile) {
          if (subject.image) violated("a builtin stack without a dockerfile() fragment: the image would lack its toolchain");
          return;
        }
        const d = ext.dockerfile();
        if (d.base !== undefined && (typeof d.base !== "string" || d.base.trim() === ""))
          violated(`dockerfile().base ${JSON.stringify(d.base)} is empty`);
        if (!Array.isArray(d.install) || d.install.some((s) => typeof s !== "string" || s.trim() === ""))
          violated(`dockerfile().install ${JSON.stringify(d.install)} holds an empty step`);
        if (subject.image && d.install.length === 0) violated("dockerfile().install installs nothing");
        for (const p of d.packages ?? [])
          if (!/^[a-z0-9][a-z0-9+.-]+$/.test(p)) violated(`dockerfile().packages holds ${JSON.stringify(p)}, not a Debian package name`);
      }),
    },
  ];
}

/** Register the contract suite for one extension: one test per case. */
export function extensionContract(subject: ContractSubject): void {
  describe(`extension contract: ${subject.name}`, () => {
    for (const c of contractCases(subject)) test(c.title, c.check);
  });
}
