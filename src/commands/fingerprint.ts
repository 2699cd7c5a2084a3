// `dwf fingerprint`: the environment hash that tags the image, and (--explain) what makes it.
import { defineCommand } from "./args.ts";
import { configArgs } from "./_shared.ts";
import { loadImageSpec } from "../runtime/image.ts";
import { style } from "../report/style.ts";
import { writeStdout } from "../report/out.ts";

export default defineCommand({
  meta: { name: "fingerprint", description: "Print the environment fingerprint (SHA-256 over the stacks' fingerprint inputs and Dockerfile.devflow)" },
  args: {
    ...configArgs,
    explain: { type: "boolean", description: "List every input with its own hash, or 'missing'" },
    json: { type: "boolean", description: "Machine-readable output: hash, image and inputs" },
  },
  async run({ args }) {
    const { spec } = await loadImageSpec({ cwd: process.cwd(), config: args.config });
    if (args.json) {
      writeStdout(JSON.stringify({ fingerprint: spec.fingerprint, image: spec.ref, inputs: spec.inputs }, null, 2) + "\n");
      return 0;
    }
    if (!args.explain) {
      writeStdout(spec.fingerprint + "\n");
      return 0;
    }
    let out = `${style.bold(spec.fingerprint)}\n${style.dim(`image: ${spec.ref}`)}\n\n`;
    for (const i of spec.inputs) {
      const hash = i.hash ?? style.yellow("missing".padEnd(64));
      out += `${hash}  ${i.path}  ${style.dim(`(${i.from.join(", ")})`)}\n`;
    }
    writeStdout(out);
    return 0;
  },
});
