// What dwf remembers about one environment image, per fingerprint, under the cache root
// (`images/<fingerprint>.json`): where the tools extensions asked about are inside it, and,
// for profile = auto, that it could not be had lately. Written atomically; a missing,
// unreadable or foreign file is simply "nothing remembered".
import { join } from "node:path";
import { writeCacheFile } from "../lib/safe-write.ts";
import { READ_CAPS, readOwnText } from "../lib/fs.ts";
import { ensureCacheRoot } from "../core/cache-root.ts";
import { log } from "../lib/log.ts";

const IMAGES_DIR = "images";

/** How long profile = auto trusts "no image could be had" before trying pull and build again. */
export const UNAVAILABLE_TTL_MS = 60 * 60 * 1000;

interface ImageState {
  version: 1;
  /** The image reference the facts are about (`<name>:<fingerprint>`). */
  ref: string;
  /** Program name → its path inside the image, null when the image lacks it. */
  tools: Record<string, string | null>;
  /** Set when pulling and building both failed: when, why, and until when auto believes it. */
  unavailable?: { at: string; until: string; reason: string };
}

export function imageStatePath(cacheRoot: string, fingerprint: string): string {
  return join(cacheRoot, IMAGES_DIR, `${fingerprint}.json`);
}

export function readImageState(cacheRoot: string, ref: string, fingerprint: string): ImageState {
  const empty: ImageState = { version: 1, ref, tools: {} };
  let parsed: unknown;
  try {
    // Read like every file dwf keeps: a FIFO, device or symlink in its place is nothing remembered.
    parsed = JSON.parse(readOwnText(imageStatePath(cacheRoot, fingerprint), READ_CAPS.imageState) ?? "null");
  } catch {
    return empty;
  }
  if (typeof parsed !== "object" || parsed === null) return empty;
  const s = parsed as Partial<ImageState>;
  // Another image name with the same fingerprint (a changed [container] image) is another image.
  if (s.version !== 1 || s.ref !== ref) return empty;
  const tools: Record<string, string | null> = {};
  if (typeof s.tools === "object" && s.tools !== null) {
    for (const [k, v] of Object.entries(s.tools)) if (typeof v === "string" || v === null) tools[k] = v;
  }
  const u = s.unavailable;
  const unavailable = u && typeof u.until === "string" && typeof u.reason === "string" && typeof u.at === "string" ? u : undefined;
  return { version: 1, ref, tools, ...(unavailable ? { unavailable } : {}) };
}

/** Read, change, write back atomically. A cache root that cannot be written only costs a re-probe later. */
export function updateImageState(cacheRoot: string, ref: string, fingerprint: string, change: (s: ImageState) => void): void {
  const state = readImageState(cacheRoot, ref, fingerprint);
  change(state);
  try {
    // Tagged like any cache root dwf makes, even when this is the first thing written there.
    ensureCacheRoot(cacheRoot);
    writeCacheFile(cacheRoot, imageStatePath(cacheRoot, fingerprint), JSON.stringify(state, null, 1) + "\n");
  } catch (e) {
    log.debug(`image state: could not write ${imageStatePath(cacheRoot, fingerprint)}: ${(e as Error).message}`);
  }
}

/** The remembered "no image could be had", while it still holds. */
export function rememberedUnavailable(cacheRoot: string, ref: string, fingerprint: string, now = Date.now()): ImageState["unavailable"] {
  const u = readImageState(cacheRoot, ref, fingerprint).unavailable;
  if (!u) return undefined;
  const until = Date.parse(u.until);
  return Number.isFinite(until) && until > now ? u : undefined;
}

export function rememberUnavailable(cacheRoot: string, ref: string, fingerprint: string, reason: string, now = Date.now()): void {
  updateImageState(cacheRoot, ref, fingerprint, (s) => {
    s.unavailable = { at: new Date(now).toISOString(), until: new Date(now + UNAVAILABLE_TTL_MS).toISOString(), reason };
  });
}

/** The image exists now (built, pulled or found): forget that it could not be had. */
export function forgetUnavailable(cacheRoot: string, ref: string, fingerprint: string): void {
  const s = readImageState(cacheRoot, ref, fingerprint);
  if (s.unavailable) updateImageState(cacheRoot, ref, fingerprint, (x) => delete x.unavailable);
}
