// `dwf init [stack…]`: write devflow.toml, Dockerfile.devflow and the CI workflow for the
// stacks found in (or named for) the current directory; --dry-run prints them instead.
import { defineCommand } from "./args.ts";
import { runInit } from "../../init/index.ts";
import { extensionSource } from "../wiring.ts";
import { style } from "../../lib/style.ts";
import { writeStdout, writeStderr } from "../../lib/out.ts";

export default defineCommand({
  meta: { name: "init", description: "Set up dwf here: devflow.toml, Dockerfile.devflow and the CI workflow" },
  args: {
    stacks: {
      type: "positional",
      required: false,
      description: "Stacks to set up (default: detected from the repository)",
      valueHint: "stack…",
    },
    force: { type: "boolean", description: "Replace files that already exist" },
    "dry-run": { type: "boolean", alias: ["n"], description: "Print the files instead of writing them" },
  },
  async run({ args }) {
    const dryRun = Boolean(args["dry-run"]);
    const r = await runInit({
      root: process.cwd(),
      stacks: args._.map(String),
      force: Boolean(args.force),
      dryRun,
      env: process.env,
      extensions: extensionSource,
    });
    const out = (s: string) => writeStdout(s);
    if (dryRun) {
      const force = Boolean(args.force);
      for (const f of r.files) {
        const note = r.existing.includes(f.path)
          ? force
            ? "exists: --force would replace it"
            : "exists: 'dwf init' would refuse to replace it"
          : "not written: --dry-run";
        out(`${style.bold(`==> ${f.path}`)} ${style.dim(`(${note})`)}\n${f.content}${f.content.endsWith("\n") ? "" : "\n"}\n`);
      }
      writeStderr(`Stacks: ${r.stacks.join(", ")} (${r.how}). Nothing was written.\n`);
      if (r.existing.length && !force) {
        const are = r.existing.length === 1 ? "exists" : "exist";
        writeStderr(
          `${r.existing.join(", ")} already ${are}: 'dwf init' would refuse to write anything (it never overwrites files); 'dwf init --force' replaces ${r.existing.length === 1 ? "it" : "them"}.\n`,
        );
      } else writeStderr(`Run 'dwf init${force ? " --force" : ""}' without --dry-run to write these files.\n`);
      return 0;
    }
    out(`Set up dwf for ${r.stacks.join(", ")} (${r.how === "detected" ? "detected" : "as named"}) in ${r.root}:\n`);
    for (const f of r.written) out(`  wrote ${f}\n`);
    out(`  pr profile:   ${r.targets.pr.join(", ") || "(empty: add commands under [targets])"}\n`);
    out(`  main profile: ${r.targets.main.join(", ") || "(empty)"}\n`);
    out(`\nNext:\n`);
    out(`  dwf doctor              check the tools${r.engine ? ` and ${r.engine}` : ""} this setup needs\n`);
    out(`  dwf verify --dry-run    see what the pr profile will run\n`);
    out(`  dwf verify              run it${r.engine ? " (the first run builds the image from Dockerfile.devflow)" : ""}\n`);
    out(`  commit the new files (dwf's cache folder ignores itself)\n`);
    return 0;
  },
});
