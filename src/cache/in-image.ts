// Keys made inside the dwf image: when dwf itself runs in the image of this tree's fingerprint
// (CI's container jobs), host-run tasks are keyed as a container run's would be.
import type { Runner, RuntimeKind } from "../core/runner.ts";
import type { Registry } from "../core/registry.ts";
import { stackCacheMounts } from "../core/cache-root.ts";
import { memo } from "../lib/memo.ts";
import { CONTAINER_ENV, insideContainer } from "../sdk/image.ts";

export interface InImageKeying {
  /** Whether a run's keys are a container's (also inside the claimed dwf image) or the host's. */
  kindOf(runner: Runner): Promise<RuntimeKind>;
  /** Host path → in-container path of every cache mount, for keys made as a container's. */
  mountPaths(): Promise<Map<string, string>>;
}

export function createInImageKeying(opts: {
  cacheRoot: string;
  registry: Registry;
  imageFingerprint: () => Promise<string>;
}): InImageKeying {
  const { cacheRoot, registry, imageFingerprint } = opts;
  // Inside the dwf image (CI's container jobs run dwf there with IS_CONTAINER=true):
  // Actions run directly, but the environment is the image: when DWF_IMAGE names the image of
  // this tree's fingerprint and CI=true is set (as the container runner sets it for every task),
  // keys are made as a container run's would be (image identity, CI=true the only inherited
  // variable, cache env by its in-container path), so a laptop's container run and CI share
  // results. Without that claim, when it names another fingerprint, or without CI=true (the
  // tasks would not see what a container's see), host keys as usual.
  const claimedImage = insideContainer(process.env) && process.env.CI === CONTAINER_ENV.CI ? process.env.DWF_IMAGE?.trim() : undefined;
  const keyedAs = memo(async (): Promise<RuntimeKind> => {
    if (!claimedImage) return "host";
    try {
      return claimedImage.endsWith(`:${await imageFingerprint()}`) ? "container" : "host";
    } catch {
      return "host";
    }
  });
  const kindOf = async (runner: Runner) => (runner.kind === "container" ? "container" : await keyedAs());
  /** Host path → in-container path of every cache mount, for keys made as a container's. */
  const mountPaths = memo(
    async () => new Map((await stackCacheMounts(registry, cacheRoot)).map(({ host, mount }) => [host, mount.container])),
  );
  return { kindOf, mountPaths };
}

/** A task's env with every value that is a mounted host path written as the path the key uses instead. */
export function containerEnv(env: Record<string, string>, mounts: Map<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) out[k] = mounts.get(v) ?? v;
  return out;
}
