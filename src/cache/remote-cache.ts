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
import type { PreparedTask } from "../core/prepare.ts";
import type { TaskCache, TaskCacheHit } from "../core/execute.ts";
import type { Runner, RunOutcome, RuntimeKind } from "../core/runner.ts";
import type { Config } from "../core/config.ts";
import type { Registry } from "../core/registry.ts";
import { formatRef } from "../sdk/command-ref.ts";
import { redactText, secretValues } from "../lib/redact.ts";
import { log } from "../lib/log.ts";
import { storedResult } from "./entries.ts";
import { taskOutputs } from "./outputs.ts";
import type { Sharing } from "./task-key.ts";
import type { RemoteSettings } from "./remote-settings.ts";
import {
  REMOTE_ENTRY_VERSION,
  ArtifactError,
  type RemoteEntry,
  artifactTag,
  packArtifact,
  remoteHash,
  restoreOutputs,
  tagMatches,
  unpackArtifact,
} from "./artifact.ts";
import { createRemoteClient, serverUnusable, unavailableWarning } from "./remote-client.ts";

const MAX_PARALLEL = 32;

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
    warnOnce("auth", unavailableWarning(s, { kind: "auth", status }, writing));
  };
  const serverDown = (message: string, timeout: boolean) => {
    disabled = "server unavailable";
    warnOnce("down", unavailableWarning(s, { kind: "error", message, timeout }));
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
          if (serverUnusable(r)) return serverDown(r.message, Boolean(r.timeout));
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
