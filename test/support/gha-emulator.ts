// An emulator of GitHub's hosted runner, good enough for the workflows `dwf ci generate` writes,
// so the tests run them end to end here:
// - each job in a fresh clone of the fixture; `run:` steps with bash --noprofile --norc -eo pipefail;
//   GITHUB_OUTPUT / GITHUB_ENV / GITHUB_PATH / GITHUB_STEP_SUMMARY files; job outputs and needs;
// - the `${{ }}` expressions the generator uses (anything else fails loudly);
// - actions/checkout, actions/cache (+restore/save: exact key, then restore-keys by newest; the
//   combined action saves in a post step), upload/download-artifact, docker/login-action,
//   emulated on local directories and a real local registry; `docker` is the real docker CLI
//   against the runner's daemon (podman's Docker API, or a dockerd where that cannot start
//   containers), with `docker buildx` emulated (gha-docker-shim.ts);
// - Trivy needs its vulnerability database from the internet: recorded as skipped;
// - every `uses:` must be a commit SHA of the pinned table (an unknown action or ref fails the
//   job at "Set up job", as on GitHub);
// - the dwf release download comes from a loopback server (DWF_DOWNLOAD_BASE).
// Jobs run dwf with the engine the workflow names (docker), so its tasks go through the real
// docker CLI and that daemon (podman's Docker API, whose `docker run --rm` loses the exit code:
// dwf's docker engine path does not rely on it).
import {
  appendFileSync,
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ACTION_PINS } from "../../src/ci/github/actions.ts";

// ---- expressions ----------------------------------------------------------------------

type Val = string | number | boolean | null | Record<string, unknown> | undefined;

interface ExprContext {
  lookup(path: string[]): Val;
  status: { success: boolean; failure: boolean; cancelled: boolean };
}

type Tok = { t: "id" | "str" | "op" | "num"; v: string };

function tokenize(src: string): Tok[] {
  const out: Tok[] = [];
  let i = 0;
  while (i < src.length) {
    const c = src[i]!;
    if (/\s/.test(c)) i++;
    else if (c === "'") {
      let j = i + 1;
      let s = "";
      while (j < src.length) {
        if (src[j] === "'" && src[j + 1] === "'") {
          s += "'";
          j += 2;
        } else if (src[j] === "'") break;
        else s += src[j++];
      }
      if (j >= src.length) throw new Error(`emulator: unterminated string in expression: ${src}`);
      out.push({ t: "str", v: s });
      i = j + 1;
    } else if (/[0-9]/.test(c)) {
      const m = /^[0-9]+/.exec(src.slice(i))!;
      out.push({ t: "num", v: m[0] });
      i += m[0].length;
    } else if (/[A-Za-z_]/.test(c)) {
      const m = /^[A-Za-z_][A-Za-z0-9_-]*/.exec(src.slice(i))!;
      out.push({ t: "id", v: m[0] });
      i += m[0].length;
    } else {
      const two = src.slice(i, i + 2);
      if (["==", "!=", "&&", "||"].includes(two)) {
        out.push({ t: "op", v: two });
        i += 2;
      } else if ("!().".includes(c)) {
        out.push({ t: "op", v: c });
        i++;
      } else throw new Error(`emulator: unsupported character '${c}' in expression: ${src}`);
    }
  }
  return out;
}

const truthy = (v: Val) => v !== undefined && v !== null && v !== false && v !== "" && v !== 0;
const str = (v: Val) => (v === undefined || v === null ? "" : typeof v === "object" ? JSON.stringify(v) : String(v));

/** Evaluates the expression subset the generator uses: contexts, literals, == != && || ! ( ), status functions. */
export function evaluate(src: string, ctx: ExprContext): Val {
  const toks = tokenize(src);
  let p = 0;
  const peek = () => toks[p];
  const eat = (v?: string) => {
    const t = toks[p++];
    if (!t || (v !== undefined && t.v !== v)) throw new Error(`emulator: unexpected ${t ? `'${t.v}'` : "end"} in expression: ${src}`);
    return t;
  };
  const primary = (): Val => {
    const t = eat();
    if (t.t === "str") return t.v;
    if (t.t === "num") return Number(t.v);
    if (t.t === "op" && t.v === "(") {
      const v = or();
      eat(")");
      return v;
    }
    if (t.t === "op" && t.v === "!") return !truthy(primary());
    if (t.t === "id") {
      if (peek()?.v === "(") {
        if (!["success", "failure", "cancelled", "always"].includes(t.v))
          throw new Error(`emulator: function ${t.v}() is not emulated: ${src}`);
        eat("(");
        eat(")");
        switch (t.v) {
          case "success":
            return ctx.status.success;
          case "failure":
            return ctx.status.failure;
          case "cancelled":
            return ctx.status.cancelled;
          case "always":
            return true;
          default:
            throw new Error(`emulator: function ${t.v}() is not emulated: ${src}`);
        }
      }
      if (t.v === "true" || t.v === "false") return t.v === "true";
      if (t.v === "null") return null;
      const path = [t.v];
      while (peek()?.v === ".") {
        eat(".");
        path.push(eat().v);
      }
      return ctx.lookup(path);
    }
    throw new Error(`emulator: unexpected '${t.v}' in expression: ${src}`);
  };
  const cmp = (): Val => {
    let l = primary();
    while (peek()?.v === "==" || peek()?.v === "!=") {
      const op = eat().v;
      const r = primary();
      // GitHub compares strings case-insensitively, other values by coercion.
      const eq = typeof l === "string" && typeof r === "string" ? l.toLowerCase() === r.toLowerCase() : str(l) === str(r);
      l = op === "==" ? eq : !eq;
    }
    return l;
  };
  const and = (): Val => {
    let l = cmp();
    while (peek()?.v === "&&") {
      eat();
      const r = cmp();
      l = truthy(l) ? r : l;
    }
    return l;
  };
  const or = (): Val => {
    let l = and();
    while (peek()?.v === "||") {
      eat();
      const r = and();
      l = truthy(l) ? l : r;
    }
    return l;
  };
  const v = or();
  if (p !== toks.length) throw new Error(`emulator: trailing tokens in expression: ${src}`);
  return v;
}

/** `${{ … }}` substitution in a string. */
export function interpolate(text: string, ctx: ExprContext): string {
  return text.replace(/\$\{\{(.*?)\}\}/gs, (_, e: string) => str(evaluate(e, ctx)));
}

/** An `if:` value: a bare expression, or one wrapped in ${{ }}; without a status function, success() is implied. */
function condition(raw: unknown, ctx: ExprContext): boolean {
  if (raw === undefined) return ctx.status.success;
  let e = String(raw).trim();
  const m = /^\$\{\{(.*)\}\}$/s.exec(e);
  if (m) e = m[1]!;
  const hasStatus = /\b(success|failure|cancelled|always)\(\)/.test(e);
  const v = truthy(evaluate(e, ctx));
  return hasStatus ? v : ctx.status.success && v;
}

// ---- the runner -----------------------------------------------------------------------

export type Event = "push" | "pull_request" | "schedule";

export interface StepResult {
  name: string;
  outcome: "success" | "failure" | "skipped";
  /** Why it was skipped when not by its `if:` (e.g. needs the internet). */
  note?: string;
  uses?: string;
  with?: Record<string, string>;
  ms: number;
}

export interface JobResult {
  id: string;
  result: "success" | "failure" | "skipped";
  outputs: Record<string, string>;
  steps: StepResult[];
  log: string;
  ms: number;
  /** Set-up or emulator failure, not a failing step. */
  error?: string;
}

export interface RunResult {
  jobs: Record<string, JobResult>;
  /** Events from the docker shim: builds, pushes, tags, lookups. */
  events: Record<string, unknown>[];
  ms: number;
  ok: boolean;
}

/**
 * What answers on the runner's DOCKER_HOST: podman's Docker API (one image store with podman,
 * which the emulated bake builds with) or a real dockerd (the bake loads what it builds into it).
 */
export type DockerDaemon = "podman-api" | "dockerd";

export interface Runner {
  /** Shared state across runs of one "repository": the Actions cache. */
  cacheDir: string;
  registry: string;
  dockerHost: string;
  /** Default podman-api. */
  daemon?: DockerDaemon;
  releaseBase: string;
  /** Extra env for every job (CONTAINERS_* for podman). */
  env: Record<string, string>;
  /** Jobs run at once when their needs allow (default 2: the machine's cores; 1 with `workspace`). */
  parallel?: number;
  /**
   * One GITHUB_WORKSPACE path for every job, emptied before each, as on GitHub (where it is
   * /home/runner/work/<repo>/<repo> in every job): what dwf keys by the tree's path (install
   * records, stat caches) then carries from job to job. Jobs run one at a time.
   */
  workspace?: string;
  /** Every cache lookup misses and nothing is saved (a cold baseline for benchmarks). */
  noCache?: boolean;
  /** Repository secrets (GITHUB_TOKEN is always there). */
  secrets?: Record<string, string>;
  /** Caches saved on other refs are visible only from this one, as on GitHub (default main). */
  defaultBranch?: string;
}

export interface RunOptions {
  /** A git repository (the fixture); each job clones it. */
  repo: string;
  /** Branch the event is for: push → refs/heads/<branch>; pull_request → refs/pull/1/merge of this branch's head. */
  branch: string;
  event: Event;
  workflow?: string;
  repository?: string;
}

interface Cached {
  key: string;
  file: string;
  created: number;
  /** The ref that saved it: visible from that ref and, when it is the default branch, from every ref. */
  ref: string;
}

const SHIM = join(import.meta.dir, "gha-docker-shim.ts");
const KNOWN = new Map(Object.values(ACTION_PINS).map((p) => [p.action, p.sha]));

function listCache(dir: string): Cached[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => f.endsWith(".json"))
    .map((f) => JSON.parse(readFileSync(join(dir, f), "utf8")) as Cached);
}

function keyFile(key: string): string {
  return new Bun.CryptoHasher("sha256").update(key).digest("hex").slice(0, 32);
}

function lines(v: string | undefined): string[] {
  return (v ?? "")
    .split("\n")
    .map((l) => l.trim())
    .filter(Boolean);
}

function parseKeyValueFile(path: string): Record<string, string> {
  if (!existsSync(path)) return {};
  const out: Record<string, string> = {};
  const text = readFileSync(path, "utf8").split("\n");
  for (let i = 0; i < text.length; i++) {
    const l = text[i]!;
    const heredoc = /^([^=<]+)<<(.+)$/.exec(l);
    if (heredoc) {
      const body: string[] = [];
      for (i++; i < text.length && text[i] !== heredoc[2]; i++) body.push(text[i]!);
      out[heredoc[1]!] = body.join("\n");
    } else if (l.includes("=")) out[l.slice(0, l.indexOf("="))] = l.slice(l.indexOf("=") + 1);
  }
  return out;
}

function sh(argv: string[], cwd?: string): { code: number; out: string } {
  const r = Bun.spawnSync(argv, { cwd, stdout: "pipe", stderr: "pipe" });
  return { code: r.exitCode ?? 1, out: r.stdout.toString() + r.stderr.toString() };
}

export async function runWorkflow(runner: Runner, opts: RunOptions): Promise<RunResult> {
  const started = performance.now();
  const workflowPath = opts.workflow ?? ".github/workflows/ci.yml";
  const sha = sh(["git", "rev-parse", opts.branch], opts.repo).out.trim();
  const doc = Bun.YAML.parse(sh(["git", "show", `${sha}:${workflowPath}`], opts.repo).out) as any;
  const trigger = doc.on ?? {};
  if (!(opts.event in trigger)) throw new Error(`emulator: the workflow is not triggered by ${opts.event}`);
  const runDir = mkdtempSync(join(tmpdir(), "dwf-gha-run-"));
  const artifacts = join(runDir, "artifacts");
  const eventsFile = join(runDir, "events.jsonl");
  writeFileSync(eventsFile, "");
  const ref = opts.event === "pull_request" ? "refs/pull/1/merge" : `refs/heads/${opts.branch}`;
  const github = {
    event_name: opts.event,
    ref,
    ref_name: opts.event === "pull_request" ? "1/merge" : opts.branch,
    sha,
    repository: opts.repository ?? "acme/app",
    repository_owner: (opts.repository ?? "acme/app").split("/")[0],
    actor: "octocat",
    workflow: doc.name ?? "ci",
    run_id: String(Date.now()),
    event: opts.event === "pull_request" ? { pull_request: { number: 1 } } : {},
  };
  const jobs: Record<string, JobResult> = {};
  const ids = Object.keys(doc.jobs);
  const pending = new Set(ids);
  const running = new Map<string, Promise<void>>();
  let events: Record<string, unknown>[] = [];
  try {
    while (pending.size > 0 || running.size > 0) {
      for (const id of [...pending]) {
        if (running.size >= (runner.workspace ? 1 : (runner.parallel ?? 2))) break;
        const needs: string[] = [doc.jobs[id].needs ?? []].flat();
        if (!needs.every((n) => jobs[n])) continue;
        pending.delete(id);
        running.set(
          id,
          runJob(runner, {
            id,
            def: doc.jobs[id],
            doc,
            github,
            needs: Object.fromEntries(needs.map((n) => [n, jobs[n]!])),
            repo: opts.repo,
            sha,
            runDir,
            artifacts,
            eventsFile,
          }).then((r) => {
            jobs[id] = r;
            running.delete(id);
          }),
        );
      }
      if (running.size === 0 && pending.size > 0)
        throw new Error(`emulator: jobs ${[...pending].join(", ")} wait on jobs that do not exist`);
      await Promise.race(running.values());
    }
  } finally {
    events = readEvents(eventsFile);
    rmSync(runDir, { recursive: true, force: true });
  }
  return { jobs, events, ms: Math.round(performance.now() - started), ok: Object.values(jobs).every((j) => j.result !== "failure") };
}

function readEvents(file: string): Record<string, unknown>[] {
  try {
    return readFileSync(file, "utf8")
      .split("\n")
      .filter(Boolean)
      .map((l) => JSON.parse(l));
  } catch {
    return [];
  }
}

interface JobInput {
  id: string;
  def: any;
  doc: any;
  github: Record<string, unknown>;
  needs: Record<string, JobResult>;
  repo: string;
  sha: string;
  runDir: string;
  artifacts: string;
  eventsFile: string;
}

async function runJob(runner: Runner, j: JobInput): Promise<JobResult> {
  const started = performance.now();
  const result: JobResult = { id: j.id, result: "success", outputs: {}, steps: [], log: "", ms: 0 };
  const needsCtx = Object.fromEntries(Object.entries(j.needs).map(([k, v]) => [k, { result: v.result, outputs: v.outputs }]));
  const anyFailed = Object.values(j.needs).some((n) => n.result === "failure");
  const allOk = Object.values(j.needs).every((n) => n.result === "success");
  const dir = join(j.runDir, j.id);
  const workspace = runner.workspace ?? join(dir, "work");
  if (runner.workspace) rmSync(workspace, { recursive: true, force: true });
  const temp = join(dir, "temp");
  const home = join(dir, "home");
  for (const d of [workspace, temp, home]) mkdirSync(d, { recursive: true });
  const steps: Record<string, { outputs: Record<string, string>; outcome: string; conclusion: string }> = {};
  const env: Record<string, string> = {};
  const secrets: Record<string, string> = { GITHUB_TOKEN: "emulated-token", ...runner.secrets };
  const runnerCtx = { temp, os: "Linux", arch: "X64" };
  const ctx = (extraEnv: Record<string, string> = {}, status = { success: true, failure: false, cancelled: false }): ExprContext => ({
    status,
    lookup(path) {
      const [head, ...rest] = path;
      let v: unknown;
      switch (head) {
        case "github":
          v = j.github;
          break;
        case "needs":
          v = needsCtx;
          break;
        case "steps":
          v = steps;
          break;
        case "env":
          v = { ...env, ...extraEnv };
          break;
        case "runner":
          v = runnerCtx;
          break;
        case "secrets":
          v = secrets;
          break;
        default:
          throw new Error(`emulator: context '${head}' is not emulated`);
      }
      for (const k of rest) v = v && typeof v === "object" ? (v as Record<string, unknown>)[k] : undefined;
      return v as Val;
    },
  });
  const log = (text: string) => {
    result.log += text;
  };
  try {
    const jobStatus = { success: allOk, failure: anyFailed, cancelled: false };
    if (!condition(j.def.if, ctx({}, jobStatus))) {
      result.result = "skipped";
      return result;
    }
    if (j.def.container || j.def.services) throw new Error("emulator: job containers and services are not emulated");
    // "Set up job": every action of every step resolves first, even behind a false `if:`.
    for (const step of j.def.steps ?? []) if (step.uses) resolveAction(step.uses);
    const interp = (v: unknown, e: Record<string, string> = {}) => interpolate(String(v), ctx(e));
    for (const [k, v] of Object.entries<string>(j.doc.env ?? {})) env[k] = interp(v);
    for (const [k, v] of Object.entries<string>(j.def.env ?? {})) env[k] = interp(v);
    const shim = join(dir, "shim");
    mkdirSync(shim);
    writeFileSync(join(shim, "docker"), `#!/bin/sh\nexec "${process.execPath}" "${SHIM}" "$@"\n`, { mode: 0o755 });
    const path: string[] = [];
    const base: Record<string, string> = {
      ...runner.env,
      HOME: home,
      PATH: `${shim}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin`,
      CI: "true",
      GITHUB_ACTIONS: "true",
      GITHUB_EVENT_NAME: String(j.github.event_name),
      GITHUB_REF: String(j.github.ref),
      GITHUB_REF_NAME: String(j.github.ref_name),
      GITHUB_SHA: j.sha,
      GITHUB_REPOSITORY: String(j.github.repository),
      GITHUB_ACTOR: String(j.github.actor),
      GITHUB_WORKSPACE: workspace,
      GITHUB_JOB: j.id,
      RUNNER_TEMP: temp,
      RUNNER_OS: "Linux",
      DOCKER_HOST: runner.dockerHost,
      EMU_DOCKER_DAEMON: runner.daemon ?? "podman-api",
      DWF_DOWNLOAD_BASE: runner.releaseBase,
      EMU_REGISTRY: runner.registry,
      EMU_EVENTS: j.eventsFile,
      EMU_JOB: j.id,
      EMU_REAL_DOCKER: Bun.which("docker") ?? "/usr/bin/docker",
    };
    const posts: (() => Promise<void>)[] = [];
    let failed = false;
    let index = 0;
    for (const step of j.def.steps ?? []) {
      index++;
      const name = step.name ?? step.uses ?? `step ${index}`;
      const stepStarted = performance.now();
      const status = { success: !failed, failure: failed, cancelled: false };
      const record: StepResult = { name, outcome: "success", ms: 0 };
      result.steps.push(record);
      if (!condition(step.if, ctx({}, status))) {
        record.outcome = "skipped";
        if (step.id) steps[step.id] = { outputs: {}, outcome: "skipped", conclusion: "skipped" };
        continue;
      }
      const stepEnv: Record<string, string> = {};
      for (const [k, v] of Object.entries<string>(step.env ?? {})) stepEnv[k] = interp(v);
      const files = {
        GITHUB_OUTPUT: join(temp, `_out_${index}`),
        GITHUB_ENV: join(temp, `_env_${index}`),
        GITHUB_PATH: join(temp, `_path_${index}`),
        GITHUB_STEP_SUMMARY: join(temp, `_summary_${index}`),
      };
      for (const f of Object.values(files)) writeFileSync(f, "");
      const fullEnv: Record<string, string> = { ...base, ...env, ...stepEnv, ...files, PATH: [...path, base.PATH].join(":") };
      log(`##[group]${name}\n`);
      let ok = true;
      let outputs: Record<string, string> = {};
      if (step.run !== undefined) {
        const script = join(temp, `_step_${index}.sh`);
        writeFileSync(script, interp(step.run, stepEnv));
        const shell = step.shell ?? j.def.defaults?.run?.shell ?? j.doc.defaults?.run?.shell ?? "bash";
        if (shell !== "bash") throw new Error(`emulator: shell '${shell}' is not emulated`);
        const proc = Bun.spawn(["bash", "--noprofile", "--norc", "-eo", "pipefail", script], {
          cwd: step["working-directory"] ? join(workspace, step["working-directory"]) : workspace,
          env: fullEnv,
          stdout: "pipe",
          stderr: "pipe",
        });
        const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
        log(out + err);
        ok = code === 0;
        if (!ok) log(`##[error]Process completed with exit code ${code}.\n`);
        outputs = parseKeyValueFile(files.GITHUB_OUTPUT);
      } else if (step.uses) {
        const inputs: Record<string, string> = {};
        for (const [k, v] of Object.entries(step.with ?? {})) inputs[k] = interp(v, stepEnv);
        record.uses = step.uses;
        record.with = inputs;
        const r = await runAction(runner, { uses: step.uses, inputs, workspace, temp, j, env: fullEnv, log, posts });
        ok = r.ok;
        outputs = r.outputs;
        if (r.note) {
          record.outcome = "skipped";
          record.note = r.note;
        }
      }
      Object.assign(env, parseKeyValueFile(files.GITHUB_ENV));
      if (existsSync(files.GITHUB_PATH)) path.unshift(...lines(readFileSync(files.GITHUB_PATH, "utf8")).reverse());
      if (!ok) {
        failed = true;
        record.outcome = "failure";
      }
      if (step.id) steps[step.id] = { outputs, outcome: ok ? "success" : "failure", conclusion: ok ? "success" : "failure" };
      record.ms = Math.round(performance.now() - stepStarted);
      log("##[endgroup]\n");
    }
    if (!failed) for (const post of posts.reverse()) await post();
    result.result = failed ? "failure" : "success";
    for (const [k, v] of Object.entries<string>(j.def.outputs ?? {})) result.outputs[k] = interp(v);
  } catch (e) {
    result.result = "failure";
    result.error = (e as Error).message;
    log(`##[error]${result.error}\n`);
  } finally {
    result.ms = Math.round(performance.now() - started);
    rmSync(dir, { recursive: true, force: true });
    if (runner.workspace) rmSync(runner.workspace, { recursive: true, force: true });
  }
  return result;
}

function resolveAction(uses: string): { action: string; sha: string } {
  const m = /^([^@]+)@(.+)$/.exec(uses);
  if (!m) throw new Error(`emulator: cannot read uses: ${uses}`);
  const [, action, ref] = m as unknown as [string, string, string];
  const known = KNOWN.get(action);
  if (!known) throw new Error(`Unable to resolve action \`${uses}\`: the emulator does not know ${action}`);
  if (ref !== known)
    throw new Error(`Unable to resolve action \`${uses}\`, unable to find version \`${ref}\` (only the pinned commit ${known} is known)`);
  return { action, sha: ref };
}

interface ActionRun {
  uses: string;
  inputs: Record<string, string>;
  workspace: string;
  temp: string;
  j: JobInput;
  env: Record<string, string>;
  log: (t: string) => void;
  posts: (() => Promise<void>)[];
}

async function runAction(runner: Runner, a: ActionRun): Promise<{ ok: boolean; outputs: Record<string, string>; note?: string }> {
  const { action } = resolveAction(a.uses);
  const ok = (outputs: Record<string, string> = {}) => ({ ok: true, outputs });
  const bad = (why: string) => {
    a.log(`##[error]${why}\n`);
    return { ok: false, outputs: {} };
  };
  switch (action) {
    case "actions/checkout": {
      const r = sh(["git", "clone", "--quiet", "--no-hardlinks", a.j.repo, "."], a.workspace);
      if (r.code !== 0) return bad(`checkout failed: ${r.out}`);
      const c = sh(["git", "checkout", "--quiet", "--detach", a.j.sha], a.workspace);
      if (c.code !== 0) return bad(`checkout failed: ${c.out}`);
      a.log(`checked out ${a.j.sha}\n`);
      return ok();
    }
    case "actions/cache/restore":
    case "actions/cache": {
      const outputs = restoreCache(runner, a);
      if (action === "actions/cache") {
        a.posts.push(async () => {
          if (outputs["cache-hit"] !== "true") saveCache(runner, a, a.inputs.key!);
        });
      }
      return ok(outputs);
    }
    case "actions/cache/save":
      saveCache(runner, a, a.inputs.key!);
      return ok();
    case "actions/upload-artifact": {
      const name = a.inputs.name ?? "artifact";
      const dest = join(a.j.artifacts, name);
      if (existsSync(dest)) return bad(`an artifact named ${name} already exists in this run`);
      const src = a.inputs.path!;
      if (!existsSync(src)) return bad(`no files were found at ${src}`);
      mkdirSync(dest, { recursive: true });
      cpSync(src, dest, { recursive: true });
      a.log(`uploaded artifact ${name}\n`);
      return ok();
    }
    case "actions/download-artifact": {
      const name = a.inputs.name!;
      const src = join(a.j.artifacts, name);
      if (!existsSync(src)) return bad(`artifact ${name} not found in this run`);
      const dest = a.inputs.path ?? a.workspace;
      mkdirSync(dest, { recursive: true });
      cpSync(src, dest, { recursive: true });
      a.log(`downloaded artifact ${name} to ${dest}\n`);
      return ok();
    }
    case "docker/login-action":
      if (a.inputs.registry !== runner.registry)
        return bad(`emulator: registry ${a.inputs.registry} is not reachable (the emulated one is ${runner.registry})`);
      if (!a.inputs.username || !a.inputs.password) return bad("login: username and password are required");
      a.log(`logged in to ${runner.registry} (no auth on the emulated registry)\n`);
      return ok();
    case "docker/setup-buildx-action":
    case "docker/setup-qemu-action":
      a.log(`${action}: emulated (buildx is the emulator's shim)\n`);
      return ok();
    case "aquasecurity/trivy-action":
      a.log(`trivy: skipped, it needs the internet for its vulnerability database (image-ref ${a.inputs["image-ref"]})\n`);
      return { ok: true, outputs: {}, note: "needs the internet (Trivy's vulnerability database)" };
    default:
      return bad(`emulator: action ${action} is not emulated`);
  }
}

function restoreCache(runner: Runner, a: ActionRun): Record<string, string> {
  const key = a.inputs.key!;
  if (runner.noCache) {
    a.log(`Cache not found for input keys: ${key} (caching is off in this emulated run)\n`);
    return { "cache-hit": "false", "cache-primary-key": key };
  }
  const ref = String(a.j.github.ref);
  const main = `refs/heads/${runner.defaultBranch ?? "main"}`;
  const entries = listCache(runner.cacheDir).filter((e) => e.ref === ref || e.ref === main);
  let hit = entries.find((e) => e.key === key);
  let exact = Boolean(hit);
  if (!hit) {
    for (const prefix of lines(a.inputs["restore-keys"])) {
      const matches = entries.filter((e) => e.key.startsWith(prefix)).sort((x, y) => y.created - x.created);
      if (matches[0]) {
        hit = matches[0];
        break;
      }
    }
    exact = false;
  }
  if (!hit) {
    a.log(`Cache not found for input keys: ${[key, ...lines(a.inputs["restore-keys"])].join(", ")}\n`);
    return { "cache-hit": "false", "cache-primary-key": key };
  }
  const r = sh(["tar", "-xf", hit.file, "-C", a.workspace]);
  if (r.code !== 0) throw new Error(`cache restore failed: ${r.out}`);
  a.log(`Cache restored from key: ${hit.key}\n`);
  return { "cache-hit": exact ? "true" : "false", "cache-primary-key": key, "cache-matched-key": hit.key };
}

function saveCache(runner: Runner, a: ActionRun, key: string): void {
  if (runner.noCache) return void a.log("Cache not saved (caching is off in this emulated run)\n");
  mkdirSync(runner.cacheDir, { recursive: true });
  const ref = String(a.j.github.ref);
  const id = keyFile(`${ref}\0${key}`);
  const meta = join(runner.cacheDir, `${id}.json`);
  if (
    existsSync(meta) ||
    listCache(runner.cacheDir).some((e) => e.key === key && (e.ref === ref || e.ref === `refs/heads/${runner.defaultBranch ?? "main"}`))
  ) {
    a.log(`Failed to save: Unable to reserve cache with key ${key}, another job may be creating this cache.\n`);
    return;
  }
  const paths = lines(a.inputs.path).filter((p) => existsSync(join(a.workspace, p)));
  if (paths.length === 0) {
    a.log("Path Validation Error: Path(s) specified in the action for caching do(es) not exist, hence no cache is being saved.\n");
    return;
  }
  const file = join(runner.cacheDir, `${id}.tar`);
  const r = sh(["tar", "-cf", file, "-C", a.workspace, ...paths]);
  if (r.code !== 0) throw new Error(`cache save failed: ${r.out}`);
  writeFileSync(meta, JSON.stringify({ key, file, created: Date.now(), ref } satisfies Cached));
  appendFileSync(a.j.eventsFile, JSON.stringify({ kind: "cache-save", key, ref, job: a.j.id, bytes: statSync(file).size }) + "\n");
  a.log(`Cache saved with key: ${key}\n`);
}
