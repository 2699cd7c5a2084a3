// The image contract: what every dwf container looks like from inside, for the runners that
// start one, the Dockerfile an extension's tools go into, and a dwf that finds itself inside.
// The one owner of these facts: runners, `dwf init`'s Dockerfile, doctor and the stacks' cache
// mounts read them from here.

/** Where the project is mounted, and the working directory of every task. */
export const WORKSPACE = "/workspace";
/** The image user's name and HOME: toolchains installed under it, caches mounted below it. */
export const IMAGE_USER = "dwf";
export const IMAGE_HOME = "/home/dwf";
/** The image user's uid and gid (tasks usually run as the invoking user instead; see runtime/container.ts). */
export const IMAGE_UID = 1001;
/** The Debian base the builtin stacks' Dockerfile fragments are written for (pinned by `dwf init`). */
export const DEBIAN_BASE = "debian:bookworm-slim";

/** Set in every container dwf starts; CI's container jobs set IS_CONTAINER=true. */
const IN_CONTAINER_ENV = "DWF_IN_CONTAINER";
/** The marker as a container's environment has it. */
const IN_CONTAINER_VALUE = "1";

/** True inside a dwf container (or CI's container jobs): run actions directly, never nest. */
export function insideContainer(env: Record<string, string | undefined> = process.env): boolean {
  return env.IS_CONTAINER === "true" || env[IN_CONTAINER_ENV] === IN_CONTAINER_VALUE;
}

/** `-e DWF_IN_CONTAINER=1`: the marker on an engine's command line. */
export function inContainerArgs(): string[] {
  return ["-e", `${IN_CONTAINER_ENV}=${IN_CONTAINER_VALUE}`];
}

/**
 * The environment every container task gets from dwf besides its own: the nesting marker, and
 * CI=true whether or not the host is CI. A container task behaves the same on a laptop as in a
 * CI job (tools that change under CI change everywhere), so its key, which holds this and no
 * other inherited variable, is the same on both and a result CI verified is reused on a laptop.
 */
export const CONTAINER_ENV: Readonly<Record<string, string>> = Object.freeze({ [IN_CONTAINER_ENV]: IN_CONTAINER_VALUE, CI: "true" });
