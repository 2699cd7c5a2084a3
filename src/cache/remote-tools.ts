// Where the tools extensions ask about are inside an environment image is a fact about the image
// (its reference carries the fingerprint), the same on every machine: shared through the remote
// cache beside the task results, a fresh clone whose tasks are all cached needs neither the
// engine nor the image to build its plan. Signed like every artifact; anything that does not
// check out is simply not known, and the image is asked as before.
import type { LoadedConfig } from "../core/config.ts";
import type { SharedToolAnswers } from "../core/runner.ts";
import { log } from "../lib/log.ts";
import { artifactTag, remoteHash, tagMatches } from "./artifact.ts";
import { createRemoteClient, serverUnusable, unavailableWarning } from "./remote-client.ts";
import { resolveRemoteSettings } from "./remote-settings.ts";

const FORMAT = "dwf-image-tools-v1";
/** More names than any set of stacks asks about: the rest of a larger answer is ignored. */
const MAX_ANSWERS = 4096;

/** The tool answers of one image on the remote cache, or undefined when no remote cache is on for this run. */
export function remoteToolAnswers(loaded: LoadedConfig, flag?: string): SharedToolAnswers | undefined {
  const resolved = resolveRemoteSettings(loaded.config, loaded.path, process.env, flag);
  // Why it is off is said once, by the task cache.
  if ("off" in resolved) return undefined;
  const s = resolved.settings;
  const client = createRemoteClient(s, { maxBytes: 1024 * 1024 });
  const hashOf = (ref: string) => remoteHash(`${FORMAT}\0${ref}`);
  let unavailable: string | undefined;
  return {
    get unavailable() {
      return unavailable;
    },
    async get(ref) {
      const hash = hashOf(ref);
      const r = await client.get(hash, AbortSignal.timeout(s.timeoutMs));
      if (r.kind === "miss") return undefined;
      if ((r.kind === "auth" || r.kind === "error") && serverUnusable(r)) {
        // Said once here; the rest of the run goes without the remote cache.
        unavailable = unavailableWarning(s, r);
        log.warn(unavailable);
        return undefined;
      }
      if (r.kind !== "hit") return void log.debug(`remote cache: tool answers for ${ref}: ${r.kind === "error" ? r.message : r.status}`);
      if (!tagMatches(artifactTag(s.signatureKey, hash, s.team, r.body), r.tag))
        return void log.debug(`remote cache: tool answers for ${ref} are not signed with this key; asking the image`);
      return parseAnswers(new TextDecoder().decode(r.body), ref);
    },
    async put(ref, tools) {
      if (s.mode !== "readwrite" || unavailable) return;
      const hash = hashOf(ref);
      const body = new TextEncoder().encode(JSON.stringify({ format: FORMAT, ref, tools }));
      const r = await client.put(hash, body, artifactTag(s.signatureKey, hash, s.team, body), AbortSignal.timeout(s.timeoutMs));
      log.debug(`remote cache: tool answers for ${ref} ${r.ok ? "uploaded" : `not uploaded (${r.message ?? r.status})`}`);
    },
  };
}

/** name → absolute path or null, for this image; anything else is no answer. */
function parseAnswers(text: string, ref: string): Record<string, string | null> | undefined {
  try {
    const data = JSON.parse(text) as { format?: unknown; ref?: unknown; tools?: unknown };
    if (data.format !== FORMAT || data.ref !== ref || typeof data.tools !== "object" || data.tools === null) return undefined;
    const out: Record<string, string | null> = {};
    for (const [name, path] of Object.entries(data.tools).slice(0, MAX_ANSWERS))
      if (path === null || (typeof path === "string" && path.startsWith("/") && !path.includes("\0"))) out[name] = path;
    return out;
  } catch {
    return undefined;
  }
}
