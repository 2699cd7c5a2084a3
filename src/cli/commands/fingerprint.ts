// `dwf fingerprint`: the environment hash that tags the image, and (--explain) what makes it:
// the image part (tag) and the dependency part (what keys CI's warm workspace cache).
import { defineCommand } from "./args.ts";
import { configArgs } from "./_shared.ts";
import { extensionSource } from "../wiring.ts";
import { loadImageSpec } from "../../runtime/image.ts";
import { cacheKey, dependencyPart, type FingerprintInput } from "../../core/fingerprint.ts";
import { style } from "../../lib/style.ts";
import { writeStdout } from "../../lib/out.ts";

function rows(inputs: FingerprintInput[]): string {
  let out = "";
  for (const i of inputs) {
    const hash = i.hash ?? style.yellow("missing".padEnd(64));
    out += `  ${hash}  ${i.path}  ${style.dim(`(${i.from.join(", ")})`)}\n`;
  }
  return out || `  ${style.dim("(none)")}\n`;
}

export default defineCommand({
  meta: {
    name: "fingerprint",
    description:
      "Print the image fingerprint (SHA-256 over Dockerfile.devflow, what it copies, the toolchain pins, the bake file and the platforms)",
  },
  args: {
    ...configArgs,
    explain: { type: "boolean", description: "Show both parts: the image inputs, and the dependency inputs that key CI's caches" },
    json: { type: "boolean", description: "Machine-readable output: fingerprint, image, inputs, dependencies, cache key" },
  },
  async run({ args }) {
    const { project, spec } = await loadImageSpec({ cwd: process.cwd(), config: args.config, extensions: extensionSource });
    if (!args.explain && !args.json) {
      writeStdout(spec.fingerprint + "\n");
      return 0;
    }
    const deps = await dependencyPart(project.registry, project.loaded.root);
    const cache = cacheKey(spec.fingerprint, deps.hash);
    if (args.json) {
      const dependencies = { hash: deps.hash, inputs: deps.inputs, paths: deps.paths };
      writeStdout(
        JSON.stringify({ fingerprint: spec.fingerprint, image: spec.ref, inputs: spec.inputs, dependencies, cache }, null, 2) + "\n",
      );
      return 0;
    }
    let out = `${style.bold(spec.fingerprint)}\n${style.dim(`image: ${spec.ref}`)}\n\n`;
    out += `Image part (the tag: a change here builds a new image):\n${rows(spec.inputs)}\n`;
    out += `Dependency part ${style.dim(deps.hash.slice(0, 16))} (keys CI's workspace cache, not the image):\n${rows(deps.inputs)}`;
    if (deps.paths.length) out += `  cached: ${deps.paths.map((p) => p.path).join(", ")}\n`;
    out += `\ncache key: ${cache.key}\n`;
    writeStdout(out);
    return 0;
  },
});
