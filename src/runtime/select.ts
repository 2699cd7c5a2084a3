// Chooses where tasks run: the host, or a container engine. Explicit choices fail fast;
// `auto` says what it picked; container modules load only when a container is wanted.
import type { Config, LoadedConfig } from "../core/config.ts";
import type { Project } from "../core/prepare.ts";
import type { ExtensionSource } from "../core/registry.ts";
import type { RunReaper } from "./reaper.ts";
import type { Runner, RuntimeKind } from "../core/runner.ts";
import { createHostRunner } from "./host.ts";
import { FailedError, UserError } from "../lib/errors.ts";
import { insideContainer } from "../sdk/image.ts";
import { existsSync } from "node:fs";
import { basename } from "node:path";

export type ProfileSetting = RuntimeKind | "auto";

interface RuntimeChoice {
  kind: RuntimeKind;
  runner: Runner;
  /** Why this runtime was chosen (shown for auto). */
  note?: string;
  /** The project as loaded while choosing (auto, once an engine answers): not loaded twice, also when auto falls back to the host. */
  project?: Project;
}

export function requestedProfile(
  flag: string | undefined,
  config: Config,
  env: Record<string, string | undefined> = process.env,
): ProfileSetting {
  const raw = flag ?? env.DWF_PROFILE ?? config.runtime?.profile ?? "host";
  if (raw !== "host" && raw !== "container" && raw !== "auto") {
    const source = flag ? "--profile" : env.DWF_PROFILE ? "DWF_PROFILE" : "[runtime] profile";
    throw new UserError(`${source}: '${raw}' is not a runtime profile; use host, container or auto.`);
  }
  return raw;
}

interface SelectOptions {
  profile: ProfileSetting;
  /** The config the user chose (--config or the nearest devflow.toml): nothing here reloads it. */
  loaded: LoadedConfig;
  /** Where dwf was started (a project without devflow.toml may sit in a subfolder). */
  cwd: string;
  env?: Record<string, string | undefined>;
  dryRun?: boolean;
  extensions: ExtensionSource;
  /** The run's reaper, for the host runner's tasks. */
  reaper?: RunReaper;
}

export async function selectRuntime(opts: SelectOptions): Promise<RuntimeChoice> {
  const env = opts.env ?? process.env;
  const { config, root } = opts.loaded;
  if (opts.profile === "host") return { kind: "host", runner: createHostRunner({ reaper: opts.reaper }) };
  if (insideContainer(env))
    return {
      kind: "host",
      runner: createHostRunner({ reaper: opts.reaper }),
      note: "already inside a container; running actions directly",
    };
  const { createContainerRunner } = await import("./container.ts");
  if (opts.profile === "container") return { kind: "container", runner: createContainerRunner({ config, root, env }) };
  return autoRuntime(opts, env);
}

/**
 * profile = auto: the container when an engine answers and the image can be had, else the host.
 * "Cannot be had" (pull and build both failed) is remembered per fingerprint for an hour, so
 * a machine without the network does not pay for a failing pull and build on every run.
 */
async function autoRuntime(opts: SelectOptions, env: Record<string, string | undefined>): Promise<RuntimeChoice> {
  const { config } = opts.loaded;
  const [{ findEngine, requestedEngine }, { createContainerRunner }, image, { loadProject }, state, { resolveCacheRoot }] =
    await Promise.all([
      import("./engine.ts"),
      import("./container.ts"),
      import("./image.ts"),
      import("../core/prepare.ts"),
      import("./image-state.ts"),
      import("../core/cache-root.ts"),
    ]);
  let project: Project | undefined;
  const host = (why: string): RuntimeChoice => ({
    kind: "host",
    runner: createHostRunner({ reaper: opts.reaper }),
    note: `auto: ${why}; running on the host`,
    project,
  });
  const found = await findEngine(requestedEngine(config, env).setting, env);
  if (!("engine" in found)) return host(`no container engine answers (${found.reasons.join("; ")})`);
  const engine = found.engine;
  // Ask as the container would: untrusted extensions must not run on the host to pick the image.
  // The container's trust policy is the stricter one (it refuses untrusted external extensions,
  // the host admits them), so a project loaded under it is also the host's: falling back to the
  // host hands this one on instead of resolving the extensions (and the fingerprint) again.
  project = await loadProject({ cwd: opts.cwd, loaded: opts.loaded, env, runtime: "container", extensions: opts.extensions });
  const { root } = project.loaded;
  const spec = await image.imageSpecFor(project);
  const runner = createContainerRunner({ config: project.loaded.config, root, env, engine });
  const chose = (how: string): RuntimeChoice => ({
    kind: "container",
    runner,
    project,
    note: `auto: running in a container (${engine.name}, image ${spec.ref} ${how})`,
  });
  if (await image.imageExists(engine, spec.ref)) return chose("present");
  const cacheRoot = resolveCacheRoot(root, project.loaded.config, env);
  const remembered = state.rememberedUnavailable(cacheRoot, spec.ref, spec.fingerprint);
  if (remembered) {
    return host(
      `image ${spec.ref} could not be had at ${clock(remembered.at)} (${remembered.reason}); not trying again before ${clock(remembered.until)}. Run 'dwf image build' to try now`,
    );
  }
  if (opts.dryRun) {
    if (existsSync(spec.dockerfile)) return chose(`to be built from ${basename(spec.dockerfile)}`);
    return host(`image ${spec.ref} is not present locally and there is no ${basename(spec.dockerfile)}`);
  }
  // "The image can be had": pulled, or built from Dockerfile.devflow. A failed build means it
  // cannot, so auto says why and uses the host (an explicit container profile would fail).
  try {
    const how = await image.ensureImage(engine, spec, { knownPresent: false });
    return chose(how);
  } catch (e) {
    if (!(e instanceof UserError || e instanceof FailedError)) throw e;
    const reason = e instanceof image.ImageBuildError ? `its build failed: ${e.summary}` : firstSentence(e.message);
    state.rememberUnavailable(cacheRoot, spec.ref, spec.fingerprint, reason);
    return host(
      `image ${spec.ref} cannot be had (${reason}); dwf will not try again for ${Math.round(state.UNAVAILABLE_TTL_MS / 60_000)} minutes ('dwf image build' tries now)`,
    );
  }
}

/** The cause without the build's output tail (auto prints one line). */
function firstSentence(message: string): string {
  return message.split("\n")[0]!.replace(/\.$/, "");
}

/** `21:07` in local time: enough to tell "a moment ago" from "this morning". */
function clock(iso: string): string {
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : `${String(d.getHours()).padStart(2, "0")}:${String(d.getMinutes()).padStart(2, "0")}`;
}
