// The image contract: what every dwf container looks like from inside, for the runners that
// start one, the Dockerfile an extension's tools go into, and a dwf that finds itself inside.

/** Set in every container dwf starts; CI's container jobs set IS_CONTAINER=true. */
export const IN_CONTAINER_ENV = "DWF_IN_CONTAINER";

/** True inside a dwf container (or CI's container jobs): run actions directly, never nest. */
export function insideContainer(env: Record<string, string | undefined> = process.env): boolean {
  return env.IS_CONTAINER === "true" || env[IN_CONTAINER_ENV] === "1";
}

/**
 * The environment every container task gets from dwf besides its own: the nesting marker, and
 * CI=true whether or not the host is CI. A container task behaves the same on a laptop as in a
 * CI job (tools that change under CI change everywhere), so its key, which holds this and no
 * other inherited variable, is the same on both and a result CI verified is reused on a laptop.
 */
export const CONTAINER_ENV: Readonly<Record<string, string>> = Object.freeze({ [IN_CONTAINER_ENV]: "1", CI: "true" });
