// The remote cache's HTTP side: ofetch against the Turborepo remote cache API
// (/v8/artifacts/:hash, bearer token, team), no retries: the run's time budget is the retry policy.
import type { RemoteSettings } from "./remote-settings.ts";
import { MAX_ARTIFACT_BYTES } from "./artifact.ts";
import { concatBytes } from "./tar.ts";

type GetResult =
  | { kind: "hit"; body: Uint8Array; tag: string | null }
  | { kind: "miss" }
  | { kind: "auth"; status: number }
  | { kind: "error"; message: string; timeout?: boolean };

/** Whether a failed request means the server cannot be used this run (down, hanging, refusing the token), not just this entry. */
export function serverUnusable(r: GetResult): boolean {
  if (r.kind === "auth") return true;
  return r.kind === "error" && (Boolean(r.timeout) || /ECONNREFUSED|ENOTFOUND|EHOSTUNREACH|ECONNRESET|EAI_AGAIN|ETIMEDOUT/.test(r.message));
}

/** The one warning for a server the run goes on without: the token it refused (naming its variable), or that it did not answer. */
export function unavailableWarning(
  s: RemoteSettings,
  r: { kind: "auth"; status: number } | { kind: "error"; message: string; timeout?: boolean },
  writing = false,
): string {
  if (r.kind === "auth") {
    const what = r.status === 401 ? "does not accept" : writing ? "does not let write with" : "refuses";
    return `remote cache ${s.url} ${what} the token in ${s.tokenVar} (${r.status}${writing && r.status === 403 ? "; the token may be read-only" : ""}): check ${s.tokenVar} for team '${s.team}'. Continuing with the local cache only.`;
  }
  return r.timeout
    ? `remote cache ${s.url} did not answer within ${s.timeoutMs / 1000}s: continuing without it for this run.`
    : `remote cache ${s.url} is unreachable (${r.message}): continuing without it for this run.`;
}

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
    return concatBytes(chunks);
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
          // A length announced (and under the cap) bounds what fetch reads: one read, no stream reader.
          body = Number.isFinite(length) ? new Uint8Array(await r.arrayBuffer()) : await readCapped(stream, maxBytes);
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
