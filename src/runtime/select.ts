// Chooses where tasks run: the host, or a container engine. Explicit choices fail fast;
// `auto` says what it picked; container modules load only when a container is wanted.
import type { Config } from "../core/config.ts";
import type { Runner } from "./runner.ts";
import { createHostRunner } from "./host.ts";
import { UserError } from "../core/errors.ts";
import { existsSync } from "node:fs";
import { basename } from "node:path";

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

export async function selectRuntime(opts: { profile: ProfileSetting; config: Config; root: string; env?: Record<string, string | undefined>; dryRun?: boolean }): Promise<RuntimeChoice> {
  const env = opts.env ?? process.env;
  if (opts.profile === "host") return { kind: "host", runner: createHostRunner() };
  if (insideContainer(env)) return { kind: "host", runner: createHostRunner(), note: "already inside a container; running actions directly" };
  const { createContainerRunner } = await import("./container.ts");
  if (opts.profile === "container") return { kind: "container", runner: createContainerRunner({ config: opts.config, root: opts.root, env }) };
  return autoRuntime(opts.config, opts.root, env, Boolean(opts.dryRun));
}

/** profile = auto: the container when an engine answers and the image can be had, else the host. */
async function autoRuntime(config: Config, root: string, env: Record<string, string | undefined>, dryRun: boolean): Promise<RuntimeChoice> {
  const [{ findEngine, requestedEngine }, { createContainerRunner }, image, { loadProject }] = await Promise.all([
    import("./engine.ts"),
    import("./container.ts"),
    import("./image.ts"),
    import("../core/pipeline.ts"),
  ]);
  const host = (why: string): RuntimeChoice => ({ kind: "host", runner: createHostRunner(), note: `auto: ${why}; running on the host` });
  const found = await findEngine(requestedEngine(config, env).setting, env);
  if (!("engine" in found)) return host(`no container engine answers (${found.reasons.join("; ")})`);
  const engine = found.engine;
  // Ask as the container would: untrusted extensions must not run on the host to pick the image.
  const project = await loadProject({ cwd: root, env, runtime: "container" });
  const spec = await image.imageSpecFor(project.registry, project.loaded.config, project.loaded.root);
  const runner = createContainerRunner({ config, root, env, engine });
  const chose = (how: string): RuntimeChoice => ({ kind: "container", runner, note: `auto: running in a container (${engine.name}, image ${spec.ref} ${how})` });
  if (await image.imageExists(engine, spec.ref)) return chose("present");
  if (dryRun) {
    if (existsSync(spec.dockerfile)) return chose(`to be built from ${basename(spec.dockerfile)}`);
    return host(`image ${spec.ref} is not present locally and there is no ${basename(spec.dockerfile)}`);
  }
  // "The image can be had": pulled, or built from Dockerfile.devflow. A failed build means it
  // cannot, so auto says why and uses the host (an explicit container profile would fail).
  try {
    const how = await image.ensureImage(engine, spec, { knownPresent: false });
    return chose(how);
  } catch (e) {
    if (!(e instanceof UserError)) throw e;
    return host(e.message.replace(/\.$/, ""));
  }
}
