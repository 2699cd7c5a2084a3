// Chooses where tasks run: the host, or a container engine. Explicit choices fail fast;
// `auto` says what it picked.
import type { Config } from "../core/config.ts";
import type { Runner } from "./runner.ts";
import { createHostRunner } from "./host.ts";
import { UserError } from "../core/errors.ts";

export type ProfileSetting = "host" | "container" | "auto";

export interface RuntimeChoice {
  kind: "host" | "container";
  runner: Runner;
  /** Why this runtime was chosen (shown for auto). */
  note?: string;
}

export function requestedProfile(flag: string | undefined, config: Config, env: Record<string, string | undefined> = process.env): ProfileSetting {
  const raw = flag ?? env.DWF_PROFILE ?? config.runtime?.profile ?? "host";
  if (raw !== "host" && raw !== "container" && raw !== "auto") {
    const source = flag ? "--profile" : env.DWF_PROFILE ? "DWF_PROFILE" : "[runtime] profile";
    throw new UserError(`${source}: '${raw}' is not a runtime profile; use host, container or auto.`);
  }
  return raw;
}

/** True inside a dwf container (or CI's container jobs): run actions directly, never nest. */
export function insideContainer(env: Record<string, string | undefined> = process.env): boolean {
  return env.IS_CONTAINER === "true" || env.DWF_IN_CONTAINER === "1";
}

export async function selectRuntime(opts: { profile: ProfileSetting; config: Config; root: string; env?: Record<string, string | undefined> }): Promise<RuntimeChoice> {
  const env = opts.env ?? process.env;
  if (opts.profile === "host") return { kind: "host", runner: createHostRunner() };
  if (insideContainer(env)) return { kind: "host", runner: createHostRunner(), note: "already inside a container; running directly" };
  if (opts.profile === "auto") return { kind: "host", runner: createHostRunner(), note: "auto: container execution is not available in this build; using the host" };
  throw new UserError("the container profile is not available in this build.", "Use --profile host.");
}
