// The image contract: what every dwf container looks like from inside, for the runners that
// start one, the Dockerfile an extension's tools go into, and a dwf that finds itself inside.

/** Set in every container dwf starts; CI's container jobs set IS_CONTAINER=true. */
export const IN_CONTAINER_ENV = "DWF_IN_CONTAINER";

/** True inside a dwf container (or CI's container jobs): run actions directly, never nest. */
export function insideContainer(env: Record<string, string | undefined> = process.env): boolean {
  return env.IS_CONTAINER === "true" || env[IN_CONTAINER_ENV] === "1";
}
