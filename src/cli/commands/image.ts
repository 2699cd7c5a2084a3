// `dwf image`: show the environment image reference and whether it exists; `dwf image build`
// builds Dockerfile.devflow under that tag (skipped when present, unless --force).
import { defineCommand } from "./args.ts";
import { existsSync } from "node:fs";
import { relative } from "node:path";
import { configArgs } from "./_shared.ts";
import { extensionSource } from "../wiring.ts";
import { buildImage, imageExists, imageLabels, loadImageSpec } from "../../runtime/image.ts";
import { findEngine, requestedEngine, resolveEngine } from "../../runtime/engine.ts";
import { UserError } from "../../lib/errors.ts";
import { resolveCacheRoot } from "../../core/cache-root.ts";
import { forgetUnavailable } from "../../runtime/image-state.ts";
import { log } from "../../lib/log.ts";
import { writeStdout } from "../../lib/out.ts";

const show = defineCommand({
  meta: { name: "show", description: "Show the image reference for this fingerprint and whether it exists locally" },
  args: { ...configArgs, json: { type: "boolean", description: "Machine-readable output" } },
  async run({ args }) {
    const { project, spec } = await loadImageSpec({ cwd: process.cwd(), config: args.config, extensions: extensionSource });
    const found = await findEngine(requestedEngine(project.loaded.config).setting);
    const engine = "engine" in found ? found.engine : undefined;
    const exists = engine ? await imageExists(engine, spec.ref) : null;
    const dockerfile = existsSync(spec.dockerfile) ? relative(project.loaded.root, spec.dockerfile) : null;
    if (args.json) {
      writeStdout(
        JSON.stringify({ image: spec.ref, fingerprint: spec.fingerprint, engine: engine?.name ?? null, exists, dockerfile }, null, 2) +
          "\n",
      );
      return 0;
    }
    const state =
      exists === null
        ? `unknown (${"reasons" in found ? found.reasons.join("; ") : "no engine"})`
        : exists
          ? `present (${engine!.name})`
          : `not present locally (${engine!.name})`;
    writeStdout(
      `image:       ${spec.ref}\nfingerprint: ${spec.fingerprint}\nstatus:      ${state}\ndockerfile:  ${dockerfile ?? "none"}\n`,
    );
    if (exists === false)
      writeStdout(
        dockerfile
          ? "Run 'dwf image build' to build it.\n"
          : "Pull it from your registry, or add Dockerfile.devflow and run 'dwf image build'.\n",
      );
    return 0;
  },
});

const build = defineCommand({
  meta: { name: "build", description: "Build Dockerfile.devflow as <container.image>:<fingerprint>, with dwf's labels" },
  args: {
    ...configArgs,
    force: { type: "boolean", description: "Build even when the image already exists locally" },
    "no-cache": { type: "boolean", description: "Pass --no-cache to the engine (rebuild every layer)" },
  },
  async run({ args }) {
    const { project, spec } = await loadImageSpec({ cwd: process.cwd(), config: args.config, extensions: extensionSource });
    if (!existsSync(spec.dockerfile)) {
      throw new UserError(
        `no ${relative(project.loaded.root, spec.dockerfile)} in ${project.loaded.root} to build.`,
        "Write one (see 'dwf init'), or set [container] dockerfile in devflow.toml.",
      );
    }
    const engine = await resolveEngine(project.loaded.config);
    // Asked for by name: whatever auto remembered about this image not being available is moot.
    forgetUnavailable(resolveCacheRoot(project.loaded.root, project.loaded.config), spec.ref, spec.fingerprint);
    if (!args.force && (await imageExists(engine, spec.ref))) {
      log.info(`${spec.ref} already exists; nothing to build (use --force to rebuild).`);
      writeStdout(spec.ref + "\n");
      return 0;
    }
    await buildImage(engine, {
      ref: spec.ref,
      dockerfile: spec.dockerfile,
      context: spec.context,
      labels: imageLabels(spec.project, spec.fingerprint),
      noCache: Boolean(args["no-cache"]),
    });
    writeStdout(spec.ref + "\n");
    return 0;
  },
});

export default defineCommand({
  meta: { name: "image", description: "Show or build the environment image (<container.image>:<fingerprint>)" },
  subCommands: { show, build },
  default: "show",
});
