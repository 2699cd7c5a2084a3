// The remote task cache: results (and declared outputs) shared across machines through a
// server speaking Turborepo's remote cache API (`/v8/artifacts/:hash`, bearer token, team).
// It wraps the local task cache: local first, then remote; a remote hit is written locally.
//
// Trust nothing that comes back: every artifact is signed (HMAC-SHA256, Turborepo's
// `x-artifact-tag`) with a key only the team holds, checked before a byte is unpacked; the
// archive must be whole, name this key and task, stay under a size cap, and contain only the
// task's declared outputs, none escaping the project (no `..`, no absolute path, no symlink
// leading out). Anything else is a miss with one warning, and the task runs.
//
// Never slower or redder: every lookup of a run goes out at once, under one time budget; a
// dead, slow or refusing server costs one warning and the run goes on uncached; uploads run in
// the background and are awaited at exit for a bounded time.
import { mkdirSync, readFileSync, readdirSync, readlinkSync, realpathSync, renameSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { dirname, join, posix, resolve } from "node:path";
import { gunzipSync } from "node:zlib";
import type { PreparedTask } from "../core/prepare.ts";
import type { TaskCache, TaskCacheHit } from "../core/execute.ts";
import type { Runner, RunOutcome, RuntimeKind } from "../core/runner.ts";
import type { Config } from "../core/config.ts";
import type { Registry } from "../core/registry.ts";
import { formatRef } from "../sdk/command-ref.ts";
import { UserError } from "../lib/errors.ts";
import { isInside, lstatOrNull } from "../lib/fs.ts";
import { redactText, secretValues } from "../lib/redact.ts";
import { readTar, writeTar, TarError, type TarEntry } from "./tar.ts";
import { log } from "../lib/log.ts";
import { normaliseOutputs, storedResult, taskOutputs, type Sharing } from "./task-cache.ts";

export { normaliseOutputs, taskOutputs };

type RemoteMode = "off" | "read" | "readwrite";
const REMOTE_MODES: readonly RemoteMode[] = ["off", "read", "readwrite"];

interface RemoteSettings {
  url: string;
  team: string;
  token: string;
  /** Which variable the token came from, for messages about a rejected token. */
  tokenVar: string;
  signatureKey: string;
  mode: "read" | "readwrite";
  /** Budget for all of a run's lookups together. */
  timeoutMs: number;
}

type RemoteResolution = { settings: RemoteSettings } | { off: string; configured: boolean; warn?: string };

const DEFAULT_TIMEOUT_S = 2;
/** Compressed artifact size cap: a bigger download is refused (a miss), a bigger upload skipped. */
const MAX_ARTIFACT_BYTES = 256 * 1024 * 1024;
/** Unpacked size cap: a small archive must not expand into a disk-filling one. */
export const MAX_UNPACKED_BYTES = 1024 * 1024 * 1024;
/** Where the result itself lives inside an artifact; everything else is a declared output. */
export const ENTRY_NAME = ".dwf-task/entry.json";
export const REMOTE_ENTRY_VERSION = 1;
const MAX_PARALLEL = 32;

/** The first set variable of these names, with its name. */
function firstEnv(env: Record<string, string | undefined>, names: string[]): { name: string; value: string } | undefined {
  for (const name of names) {
    const value = env[name]?.trim();
    if (value) return { name, value };
  }
  return undefined;
}

/**
 * Where the remote cache is and how to use it: [cache.remote] in devflow.toml, overridden by
 * the environment (DWF_REMOTE_CACHE_URL/TEAM, or Turborepo's TURBO_API/TURBO_TEAM), the token
 * and signature key only from the environment, the mode from --remote-cache, DWF_REMOTE_CACHE
 * or read_only. Without a URL, token or signature key the remote cache is off (with a reason).
 */
export function resolveRemoteSettings(
  config: Config,
  file: string | null,
  env: Record<string, string | undefined>,
  flag?: string,
): RemoteResolution {
  const where = file ?? "the environment";
  const file_ = config.cache?.remote ?? {};
  const modeVar = env.DWF_REMOTE_CACHE?.trim();
  if (modeVar && !REMOTE_MODES.includes(modeVar as RemoteMode)) {
    throw new UserError(`DWF_REMOTE_CACHE is '${modeVar}': expected one of ${REMOTE_MODES.join(", ")}.`);
  }
  const asked = (flag ?? modeVar) as RemoteMode | undefined;
  const url = firstEnv(env, ["DWF_REMOTE_CACHE_URL", "TURBO_API"]);
  const configured = Boolean(url ?? file_.url);
  if (asked === "off") return { off: flag ? "--remote-cache=off" : "DWF_REMOTE_CACHE=off", configured };
  const rawUrl = url?.value ?? file_.url;
  if (!rawUrl) {
    return {
      off: "not configured",
      configured: false,
      warn: flag
        ? `--remote-cache=${flag} has no effect: no remote cache is configured ([cache.remote] url in devflow.toml, or DWF_REMOTE_CACHE_URL).`
        : undefined,
    };
  }
  if (url && !/^https?:\/\/[^\s/?#]+[^\s?#]*$/.test(url.value))
    throw new UserError(`${url.name} is '${url.value}': expected an http:// or https:// URL.`);
  const team = firstEnv(env, ["DWF_REMOTE_CACHE_TEAM", "TURBO_TEAM"])?.value ?? file_.team;
  if (!team) {
    throw new UserError(
      `${where}: cache.remote.team is not set: the remote cache needs the team (or slug) its entries belong to.`,
      'Add team = "<your-team>" under [cache.remote], or set DWF_REMOTE_CACHE_TEAM.',
    );
  }
  const token = firstEnv(env, ["DWF_REMOTE_CACHE_TOKEN", "TURBO_TOKEN"]);
  if (!token) {
    // Pull requests from forks get no secrets: quietly local, unless the user asked for it.
    // DWF_REMOTE_CACHE=read in a workflow is no request to warn about a fork's missing secret.
    return {
      off: "no token (set DWF_REMOTE_CACHE_TOKEN)",
      configured: true,
      warn: flag
        ? `--remote-cache=${flag}: no token in DWF_REMOTE_CACHE_TOKEN (or TURBO_TOKEN); running with the local cache only.`
        : undefined,
    };
  }
  const signature = firstEnv(env, ["DWF_REMOTE_CACHE_SIGNATURE_KEY", "TURBO_REMOTE_CACHE_SIGNATURE_KEY"]);
  if (!signature) {
    return {
      off: "no signature key (set DWF_REMOTE_CACHE_SIGNATURE_KEY)",
      configured: true,
      warn: "remote cache off: DWF_REMOTE_CACHE_SIGNATURE_KEY is not set, and dwf uses only signed entries. Set it to the key your team signs entries with.",
    };
  }
  const mode = asked ?? (file_.read_only ? "read" : "readwrite");
  return {
    settings: {
      url: rawUrl.replace(/\/+$/, ""),
      team,
      token: token.value,
      tokenVar: token.name,
      signatureKey: signature.value,
      mode,
      timeoutMs: Math.round((file_.timeout ?? DEFAULT_TIMEOUT_S) * 1000),
    },
  };
}

/** The artifact name on the server for a task key: namespaced, so a format change is a new name. */
export function remoteHash(key: string): string {
  return Bun.CryptoHasher.hash("sha256", `dwf-remote-${REMOTE_ENTRY_VERSION}\0${key}`, "hex");
}

/** Turborepo's artifact tag: base64 HMAC-SHA256 over the hash, the team and the artifact body. */
export function artifactTag(signatureKey: string, hash: string, team: string, body: Uint8Array): string {
  const h = new Bun.CryptoHasher("sha256", signatureKey);
  h.update(hash);
  h.update(team);
  h.update(body);
  return h.digest("base64");
}

/** Constant-time comparison of two tags. */
export function tagMatches(expected: string, got: string | null): boolean {
  if (!got) return false;
  const a = Buffer.from(expected);
  const b = Buffer.from(got);
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i]! ^ b[i]!;
  return diff === 0;
}

export interface RemoteEntry {
  version: number;
  key: string;
  task: string;
  durationMs: number;
  output: string;
  /** The declared output paths when it was stored. */
  outputs: string[];
}

function underOutputs(path: string, outputs: string[]): boolean {
  return outputs.some((o) => path === o || path.startsWith(`${o}/`));
}

export class ArtifactError extends Error {}

/**
 * The artifact for a result: a gzipped tar of the entry and the declared outputs as they are
 * on disk now. Symlinks are kept when they stay inside the project, left out otherwise.
 */
export function packArtifact(root: string, entry: RemoteEntry, opts: { level?: number } = {}): Uint8Array {
  const files: TarEntry[] = [{ type: "file", path: ENTRY_NAME, mode: 0o644, data: new TextEncoder().encode(JSON.stringify(entry)) }];
  let bytes = 0;
  const realRoot = realpathSync(root);
  const walk = (rel: string) => {
    const abs = join(root, rel);
    const st = lstatOrNull(abs);
    if (!st) return;
    if (st.isSymbolicLink()) {
      const target = readlinkSync(abs);
      let real: string | null = null;
      try {
        real = realpathSync(abs);
      } catch {}
      if (!target.startsWith("/") && real && isInside(realRoot, real)) files.push({ type: "symlink", path: rel, target });
      else log.debug(`remote cache: leaving out ${rel}: a symlink leading outside the project`);
    } else if (st.isDirectory()) {
      files.push({ type: "dir", path: rel, mode: 0o755 });
      for (const name of readdirSync(abs).sort()) walk(`${rel}/${name}`);
    } else if (st.isFile()) {
      bytes += st.size;
      if (bytes > MAX_UNPACKED_BYTES) throw new ArtifactError(`outputs are larger than ${MAX_UNPACKED_BYTES / 1024 / 1024} MiB`);
      files.push({ type: "file", path: rel, mode: st.mode & 0o111 ? 0o755 : 0o644, data: readFileSync(abs) });
    }
  };
  for (const o of entry.outputs) walk(o);
  const body = Bun.gzipSync(writeTar(files) as Uint8Array<ArrayBuffer>, opts.level === undefined ? undefined : { level: opts.level as 1 });
  if (body.length > MAX_ARTIFACT_BYTES)
    throw new ArtifactError(
      `artifact is ${Math.round(body.length / 1024 / 1024)} MiB, over the ${MAX_ARTIFACT_BYTES / 1024 / 1024} MiB cap`,
    );
  return body;
}

interface Unpacked {
  entry: RemoteEntry;
  /** Validated output entries, ready for restoreOutputs. */
  files: TarEntry[];
}

/**
 * Check and open a downloaded artifact (its signature is checked before this). Throws
 * ArtifactError for anything short of a whole archive holding this key's entry and only
 * paths under the outputs this machine declares for the task.
 */
export function unpackArtifact(
  body: Uint8Array,
  expect: { key: string; task: string; outputs: string[] },
  maxUnpacked = MAX_UNPACKED_BYTES,
): Unpacked {
  if (body.length > MAX_ARTIFACT_BYTES) throw new ArtifactError(`artifact is over the ${MAX_ARTIFACT_BYTES / 1024 / 1024} MiB cap`);
  let tar: Uint8Array;
  try {
    tar = gunzipSync(body, { maxOutputLength: maxUnpacked });
  } catch (e) {
    const msg = (e as Error).message;
    throw new ArtifactError(
      /maxOutputLength|larger than|buffer/i.test(msg)
        ? `unpacks to more than ${Math.round(maxUnpacked / 1024 / 1024)} MiB`
        : `not a whole gzip stream (truncated or damaged): ${msg}`,
    );
  }
  let entries: TarEntry[];
  try {
    entries = readTar(tar);
  } catch (e) {
    if (e instanceof TarError) throw new ArtifactError(`damaged archive: ${e.message}`);
    throw e;
  }
  const head = entries.find((e) => e.path === ENTRY_NAME);
  if (!head || head.type !== "file") throw new ArtifactError("no result entry in the archive");
  let entry: RemoteEntry;
  try {
    entry = JSON.parse(new TextDecoder().decode(head.data)) as RemoteEntry;
  } catch {
    throw new ArtifactError("the result entry is not JSON");
  }
  if (entry?.version !== REMOTE_ENTRY_VERSION || entry.key !== expect.key || entry.task !== expect.task)
    throw new ArtifactError("the entry names another key or task");
  if (
    typeof entry.output !== "string" ||
    typeof entry.durationMs !== "number" ||
    !Number.isFinite(entry.durationMs) ||
    entry.durationMs < 0
  ) {
    throw new ArtifactError("the result entry is malformed");
  }
  const outputs = normaliseOutputs(expect.outputs);
  const files: TarEntry[] = [];
  const links = new Set<string>();
  const seen = new Set<string>();
  for (const e of entries) {
    if (e.path === ENTRY_NAME) continue;
    const p = e.path;
    if (p.includes("\0") || p.includes("\\") || p.startsWith("/") || p.split("/").some((s) => s === "" || s === "." || s === "..")) {
      throw new ArtifactError(`entry ${JSON.stringify(p)} is not a plain relative path (it could escape the project)`);
    }
    if (!underOutputs(p, outputs))
      throw new ArtifactError(`entry ${JSON.stringify(p)} is not under the task's declared outputs (${outputs.join(", ") || "none"})`);
    if (seen.has(p)) throw new ArtifactError(`entry ${JSON.stringify(p)} appears twice`);
    seen.add(p);
    if (e.type === "symlink") {
      const target = e.target;
      const resolved = posix.normalize(posix.join(posix.dirname(p), target));
      if (!target || target.startsWith("/") || target.includes("\0") || resolved === ".." || resolved.startsWith("../")) {
        throw new ArtifactError(`symlink ${JSON.stringify(p)} points outside the project (${JSON.stringify(target)})`);
      }
      links.add(p);
    }
    files.push(e);
  }
  // Nothing may be written through a link the archive itself makes.
  for (const e of files) {
    for (let d = posix.dirname(e.path); d !== "."; d = posix.dirname(d)) {
      if (links.has(d)) throw new ArtifactError(`entry ${JSON.stringify(e.path)} lies below the symlink ${JSON.stringify(d)}`);
    }
  }
  return { entry, files };
}

/** Whether a folder on disk (existing part of the path) resolves inside the project. */
function parentInside(realRoot: string, abs: string): boolean {
  let parent = dirname(abs);
  while (!lstatOrNull(parent)) parent = dirname(parent);
  try {
    return isInside(realRoot, realpathSync(parent));
  } catch {
    return false;
  }
}

/**
 * Write validated outputs into the project. Every target's existing folders must resolve
 * inside the project (a symlinked `dist` leading out is refused before anything is written);
 * files replace what is there atomically, folders are created, symlinks last.
 */
export function restoreOutputs(root: string, files: TarEntry[]): void {
  const realRoot = realpathSync(root);
  for (const e of files) {
    const abs = resolve(root, e.path);
    if (!isInside(root, abs) || !parentInside(realRoot, abs))
      throw new ArtifactError(`${e.path} would be written outside the project (a folder on the way is a symlink leading out)`);
    const st = lstatOrNull(abs);
    if (st?.isSymbolicLink() && e.type !== "symlink")
      throw new ArtifactError(`${e.path} is a symlink in the project; not writing through it`);
    if (st?.isDirectory() && e.type !== "dir")
      throw new ArtifactError(`${e.path} is a folder in the project; the artifact has a file there`);
  }
  const suffix = `.dwf-restore-${process.pid}-${Date.now().toString(36)}`;
  const ordered = [
    ...files.filter((e) => e.type === "dir"),
    ...files.filter((e) => e.type === "file"),
    ...files.filter((e) => e.type === "symlink"),
  ];
  for (const e of ordered) {
    const abs = resolve(root, e.path);
    if (e.type === "dir") {
      if (!lstatOrNull(abs)?.isDirectory()) mkdirSync(abs, { recursive: true });
      continue;
    }
    mkdirSync(dirname(abs), { recursive: true });
    // Re-check just before writing: an earlier entry may have changed what lies on the way.
    if (!parentInside(realRoot, abs)) throw new ArtifactError(`${e.path} would be written outside the project`);
    const tmp = `${abs}${suffix}`;
    try {
      if (e.type === "file") writeFileSync(tmp, e.data, { mode: e.mode & 0o111 ? 0o755 : 0o644, flag: "wx" });
      else symlinkSync(e.target, tmp);
      if (lstatOrNull(abs)?.isDirectory()) rmSync(abs, { recursive: true });
      renameSync(tmp, abs);
    } catch (err) {
      rmSync(tmp, { force: true });
      throw err;
    }
  }
}

type GetResult =
  | { kind: "hit"; body: Uint8Array; tag: string | null }
  | { kind: "miss" }
  | { kind: "auth"; status: number }
  | { kind: "error"; message: string; timeout?: boolean };

/** The HTTP side: ofetch against the Turborepo API, no retries (the budget is the retry policy). */
export function createRemoteClient(s: RemoteSettings, limits: { maxBytes?: number } = {}) {
  const maxBytes = limits.maxBytes ?? MAX_ARTIFACT_BYTES;
  const teamParam = s.team.startsWith("team_") ? `teamId=${encodeURIComponent(s.team)}` : `slug=${encodeURIComponent(s.team)}`;
  const headers = { Authorization: `Bearer ${s.token}` };
  const ofetchP = import("ofetch");
  const describe = (e: unknown, signal?: AbortSignal): { message: string; timeout: boolean } => {
    const err = e as Error & { cause?: { code?: string; message?: string }; code?: string };
    if (signal?.aborted || err.name === "TimeoutError" || err.name === "AbortError") return { message: "timed out", timeout: true };
    const code = err.cause?.code ?? err.code;
    return { message: code ? `${code}` : (err.cause?.message ?? err.message), timeout: false };
  };
  const raw = async (
    path: string,
    opts: { method: string; body?: Uint8Array | string; headers?: Record<string, string>; signal: AbortSignal; stream?: boolean },
  ) => {
    const { ofetch } = await ofetchP;
    return ofetch.raw(`${s.url}${path}`, {
      method: opts.method as "GET",
      body: opts.body,
      headers: { ...headers, ...opts.headers },
      signal: opts.signal,
      retry: 0,
      ignoreResponseError: true,
      responseType: opts.stream ? "stream" : "arrayBuffer",
    });
  };
  /** The body, read up to the cap: a server sending more is cut off, not buffered. */
  const readCapped = async (stream: ReadableStream<Uint8Array> | null | undefined, cap: number): Promise<Uint8Array | null> => {
    if (!stream) return new Uint8Array(0);
    const chunks: Uint8Array[] = [];
    let size = 0;
    const reader = stream.getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      size += value.length;
      if (size > cap) {
        await reader.cancel().catch(() => {});
        return null;
      }
      chunks.push(value);
    }
    const out = new Uint8Array(size);
    let at = 0;
    for (const c of chunks) {
      out.set(c, at);
      at += c.length;
    }
    return out;
  };
  return {
    settings: s,
    async status(signal: AbortSignal): Promise<{ ok: boolean; detail: string; auth?: boolean }> {
      try {
        const r = await raw(`/v8/artifacts/status?${teamParam}`, { method: "GET", signal });
        if (r.status === 401 || r.status === 403)
          return { ok: false, auth: true, detail: `rejects the token in ${s.tokenVar} (${r.status})` };
        if (!r.ok) return { ok: false, detail: `answers ${r.status} to /v8/artifacts/status` };
        let state = "enabled";
        try {
          state = (JSON.parse(new TextDecoder().decode(r._data as ArrayBuffer)) as { status?: string }).status ?? state;
        } catch {}
        return { ok: state === "enabled", detail: state };
      } catch (e) {
        return { ok: false, detail: describe(e, signal).message };
      }
    },
    async get(hash: string, signal: AbortSignal): Promise<GetResult> {
      try {
        const r = await raw(`/v8/artifacts/${hash}?${teamParam}`, { method: "GET", signal, stream: true });
        const stream = r._data as ReadableStream<Uint8Array> | undefined;
        if (!r.ok) await stream?.cancel().catch(() => {});
        if (r.status === 404) return { kind: "miss" };
        if (r.status === 401 || r.status === 403) return { kind: "auth", status: r.status };
        if (!r.ok) return { kind: "error", message: `server answered ${r.status}` };
        const length = Number(r.headers.get("content-length") ?? NaN);
        const tooBig = `artifact is over the ${Math.round(maxBytes / 1024 / 1024)} MiB cap`;
        if (length > maxBytes) {
          await stream?.cancel().catch(() => {});
          return { kind: "error", message: tooBig };
        }
        let body: Uint8Array | null;
        try {
          body = await readCapped(stream, maxBytes);
        } catch (e) {
          // The server answered, then the body stopped short: this entry is bad, the server may be fine.
          if (signal.aborted) throw e;
          return { kind: "error", message: `the body ended early (truncated: ${describe(e).message})` };
        }
        if (!body) return { kind: "error", message: tooBig };
        if (Number.isFinite(length) && length !== body.length)
          return { kind: "error", message: `body is ${body.length} bytes, ${length} announced (truncated)` };
        return { kind: "hit", body, tag: r.headers.get("x-artifact-tag") };
      } catch (e) {
        return { kind: "error", ...describe(e, signal) };
      }
    },
    async put(
      hash: string,
      body: Uint8Array,
      tag: string,
      signal: AbortSignal,
    ): Promise<{ ok: boolean; status?: number; message?: string }> {
      try {
        const r = await raw(`/v8/artifacts/${hash}?${teamParam}`, {
          method: "PUT",
          body,
          headers: { "Content-Type": "application/octet-stream", "x-artifact-tag": tag },
          signal,
        });
        return { ok: r.ok, status: r.status, message: r.ok ? undefined : `server answered ${r.status}` };
      } catch (e) {
        return { ok: false, message: describe(e, signal).message };
      }
    },
    async events(list: unknown[], signal: AbortSignal): Promise<void> {
      try {
        await raw(`/v8/artifacts/events?${teamParam}`, {
          method: "POST",
          body: JSON.stringify(list),
          headers: { "Content-Type": "application/json" },
          signal,
        });
      } catch {}
    },
  };
}

/** The local task cache as the remote layer needs it. */
interface LocalTaskCache extends TaskCache {
  keyFor(t: PreparedTask, runner: Runner): Promise<string>;
  /** Whether this run's keys are a container's (also inside the claimed dwf image) or the host's. */
  keyedAs(runner: Runner): Promise<RuntimeKind>;
  /** Whether a task's key means the same on other machines (container, pinned host tool), and why. */
  sharing(t: PreparedTask, runner: Runner): Promise<Sharing>;
}

interface RemoteLayerOptions {
  settings: RemoteSettings;
  root: string;
  config: Config;
  registry: Registry;
  verbose: boolean;
}

/** Run fn over items with at most n in flight. */
async function pool<T>(items: T[], n: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await fn(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(n, items.length) }, worker));
}

export function withRemoteCache(inner: LocalTaskCache, opts: RemoteLayerOptions): TaskCache & { flush(): Promise<void> } {
  const s = opts.settings;
  const client = createRemoteClient(s);
  const pending = new Set<Promise<unknown>>();
  const uploads = new AbortController();
  let disabled: string | undefined;
  const warned = new Set<string>();
  const warnOnce = (id: string, text: string) => {
    if (warned.has(id)) return;
    warned.add(id);
    log.warn(text);
  };
  const authFailed = (status: number, writing: boolean) => {
    disabled = "token rejected";
    const what = status === 401 ? "does not accept" : writing ? "does not let write with" : "refuses";
    warnOnce(
      "auth",
      `remote cache ${s.url} ${what} the token in ${s.tokenVar} (${status}${writing && status === 403 ? "; the token may be read-only" : ""}): check ${s.tokenVar} for team '${s.team}'. Continuing with the local cache only.`,
    );
  };
  const serverDown = (message: string, timeout: boolean) => {
    disabled = "server unavailable";
    warnOnce(
      "down",
      timeout
        ? `remote cache ${s.url} did not answer within ${s.timeoutMs / 1000}s: continuing without it for this run.`
        : `remote cache ${s.url} is unreachable (${message}): continuing without it for this run.`,
    );
  };
  const label = (t: PreparedTask) => `${formatRef(t.task.ref)} [${t.stack.name}]`;
  const events: { sessionId: string; source: "REMOTE"; event: "HIT" | "MISS"; hash: string; duration: number }[] = [];
  const sessionId = crypto.randomUUID();

  const track = <T>(p: Promise<T>): Promise<T> => {
    pending.add(p);
    void p.finally(() => pending.delete(p)).catch(() => {});
    return p;
  };

  const lookupMany = async (tasks: PreparedTask[], runner: Runner): Promise<Map<string, TaskCacheHit>> => {
    const hits = await inner.lookupMany(tasks, runner);
    const started = performance.now();
    const localOnly: string[] = [];
    const wanted: { t: PreparedTask; key: string }[] = [];
    for (const t of tasks) {
      const share = await inner.sharing(t, runner).catch((e: Error) => ({ shared: false, why: `no key (${e.message})` }));
      if (!share.shared) {
        localOnly.push(`${label(t)}: local only: ${share.why}`);
        continue;
      }
      if (hits.has(t.task.id)) continue;
      try {
        wanted.push({ t, key: await inner.keyFor(t, runner) });
      } catch {}
    }
    if (opts.verbose) for (const line of localOnly) log.info(`remote cache: ${line}`);
    if (wanted.length === 0 || disabled) return hits;
    const budget = new AbortController();
    const timer = setTimeout(() => budget.abort(), s.timeoutMs);
    let found = 0;
    try {
      await pool(wanted, MAX_PARALLEL, async ({ t, key }) => {
        if (disabled) return;
        const hash = remoteHash(key);
        const r = await client.get(hash, budget.signal);
        if (r.kind === "miss") {
          events.push({ sessionId, source: "REMOTE", event: "MISS", hash, duration: 0 });
          return;
        }
        if (r.kind === "auth") return authFailed(r.status, false);
        if (r.kind === "error") {
          if (r.timeout || /ECONNREFUSED|ENOTFOUND|EHOSTUNREACH|ECONNRESET|EAI_AGAIN|ETIMEDOUT/.test(r.message))
            return serverDown(r.message, Boolean(r.timeout));
          warnOnce(`get:${t.task.id}`, `remote cache: no result for ${label(t)}: ${r.message}; the task runs.`);
          return;
        }
        const hit = accept(t, key, hash, r.body, r.tag);
        if (hit) {
          hits.set(t.task.id, hit);
          found++;
          events.push({ sessionId, source: "REMOTE", event: "HIT", hash, duration: hit.durationMs });
          // A remote hit is kept locally: the next run needs no round trip.
          await inner
            .store(t, runner, { exitCode: 0, output: hit.output, durationMs: hit.durationMs }, true)
            .catch((e) => log.debug(`remote cache: could not keep ${t.task.id} locally: ${(e as Error).message}`));
        }
      });
    } finally {
      clearTimeout(timer);
    }
    log.debug(`remote cache: ${found} of ${wanted.length} found on ${s.url} in ${Math.round(performance.now() - started)}ms`);
    if (opts.verbose)
      log.info(`remote cache: ${found} of ${wanted.length} shareable task${wanted.length === 1 ? "" : "s"} found on ${s.url}`);
    if (events.length && !disabled) {
      const batch = events.splice(0);
      track(client.events(batch, AbortSignal.any([uploads.signal, AbortSignal.timeout(s.timeoutMs)])));
    }
    return hits;
  };

  /** A downloaded artifact becomes a hit only when signed, whole, this task's, and restorable. */
  const accept = (t: PreparedTask, key: string, hash: string, body: Uint8Array, tag: string | null): TaskCacheHit | null => {
    const miss = (why: string) => {
      warnOnce(`bad:${t.task.id}`, `remote cache: ignoring the entry for ${label(t)}: ${why}; the task runs.`);
      return null;
    };
    if (!tag) return miss("it is not signed (no x-artifact-tag; the server must keep tags: set TURBO_REMOTE_CACHE_SIGNATURE_KEY on it)");
    if (!tagMatches(artifactTag(s.signatureKey, hash, s.team, body), tag))
      return miss("its signature does not match (altered, or signed with another DWF_REMOTE_CACHE_SIGNATURE_KEY)");
    try {
      const { entry, files } = unpackArtifact(body, { key, task: t.task.id, outputs: taskOutputs(t, opts.config, opts.registry) });
      restoreOutputs(opts.root, files);
      return { durationMs: entry.durationMs, output: redactText(entry.output, secretValues(process.env, t.env)), origin: "remote" };
    } catch (e) {
      if (e instanceof ArtifactError) return miss(e.message);
      return miss(`could not restore its outputs: ${(e as Error).message}`);
    }
  };

  const upload = async (t: PreparedTask, runner: Runner, outcome: RunOutcome) => {
    const key = await inner.keyFor(t, runner);
    const hash = remoteHash(key);
    // Masked once more on the way out (storedResult): nothing secret leaves the machine.
    const entry: RemoteEntry = {
      version: REMOTE_ENTRY_VERSION,
      ...storedResult(t, key, outcome),
      outputs: taskOutputs(t, opts.config, opts.registry),
    };
    let body: Uint8Array;
    try {
      body = packArtifact(opts.root, entry);
    } catch (e) {
      warnOnce(`pack:${t.task.id}`, `remote cache: not uploading ${label(t)}: ${(e as Error).message}.`);
      return;
    }
    const r = await client.put(hash, body, artifactTag(s.signatureKey, hash, s.team, body), uploads.signal);
    if (r.ok) return log.debug(`remote cache: uploaded ${t.task.id} (${body.length} bytes)`);
    if (r.status === 401 || r.status === 403) return authFailed(r.status, true);
    if (uploads.signal.aborted) return;
    warnOnce(`put`, `remote cache: could not upload ${label(t)} to ${s.url}: ${r.message}.`);
  };

  return {
    lookupMany,
    // An install changed these tasks' actions: their keys (local and remote alike) are recomputed.
    forget: (taskIds) => inner.forget?.(taskIds),
    async lookup(t, runner) {
      return (await lookupMany([t], runner)).get(t.task.id) ?? null;
    },
    async store(t, runner, outcome, replayed) {
      // What was not kept locally (the tree changed while the task ran) is not shared either.
      if ((await inner.store(t, runner, outcome, replayed)) === false) return false;
      if (s.mode !== "readwrite" || disabled || !(await inner.sharing(t, runner)).shared) return;
      track(upload(t, runner, outcome).catch((e) => log.debug(`remote cache: upload of ${t.task.id} failed: ${(e as Error).message}`)));
    },
    async flush() {
      if (pending.size === 0) return;
      const waitMs = Math.max(15_000, s.timeoutMs * 5);
      let timer: ReturnType<typeof setTimeout> | undefined;
      const timedOut = await Promise.race([
        Promise.allSettled([...pending]).then(() => false),
        new Promise<boolean>((r) => (timer = setTimeout(() => r(true), waitMs))),
      ]);
      clearTimeout(timer);
      if (timedOut) {
        const n = pending.size;
        uploads.abort();
        warnOnce(
          "flush",
          `remote cache: ${n} upload${n === 1 ? "" : "s"} to ${s.url} did not finish within ${waitMs / 1000}s; abandoned (the results are cached locally).`,
        );
      }
    },
  };
}
