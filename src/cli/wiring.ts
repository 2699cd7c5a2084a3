// The composition root's services: the builtin stacks and the external-extension loader (the
// registry's source), the task cache and the reporters. The one place that names them; every
// layer below receives them as parameters.
import { builtinExtensions } from "../../extensions/index.ts";
import type { ExtensionSource } from "../core/registry.ts";
import type { RunServices } from "./verify-flow.ts";
import { remoteCacheConfigured } from "../core/config.ts";

export const extensionSource: ExtensionSource = {
  builtins: builtinExtensions,
  // The protocol (and its validator) loads only for projects that use an external extension.
  async loadExternal(name, config, ctx, opts) {
    const { loadExternalExtension } = await import("../../extensions/external/protocol.ts");
    return loadExternalExtension(name, config, ctx, opts);
  },
};

/** What `dwf verify` and `dwf <primary>:<selector>` run with: the task cache and GitHub reporting. */
export async function runServices(): Promise<RunServices> {
  const [{ taskCacheFactory }, { githubReporter }] = await Promise.all([
    import("../cache/task-cache.ts"),
    import("../ci/github/status.ts"),
  ]);
  return {
    extensions: extensionSource,
    openCache: taskCacheFactory(),
    // Loaded only for a project with a remote cache configured.
    async sharedTools(loaded, remote) {
      if (!remoteCacheConfigured(loaded.config)) return undefined;
      const { remoteToolAnswers } = await import("../cache/remote-tools.ts");
      return remoteToolAnswers(loaded, remote);
    },
    reporters: [githubReporter()],
  };
}
