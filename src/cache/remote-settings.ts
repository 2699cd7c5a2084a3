// Remote cache settings: [cache.remote] in devflow.toml, the token and signing key from the
// environment (DWF_* or Turborepo's TURBO_* names), and --remote-cache, resolved into one answer.
import type { Config } from "../core/config.ts";
import { UserError } from "../lib/errors.ts";

type RemoteMode = "off" | "read" | "readwrite";
const REMOTE_MODES: readonly RemoteMode[] = ["off", "read", "readwrite"];

export interface RemoteSettings {
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
