// `dwf verify [profile]`: run a target profile, i.e. `dwf check:<profile>`.
import { defineCommand } from "./args.ts";
import { runArgs, runWithFlags } from "./_shared.ts";
import { UserError } from "../../lib/errors.ts";

export default defineCommand({
  meta: { name: "verify", description: "Run a target profile from devflow.toml (default: pr); same as 'dwf check:<profile>'" },
  args: {
    profileName: { type: "positional", required: false, description: "Profile under [targets] (default: pr)", valueHint: "profile" },
    ...runArgs,
  },
  async run({ args }) {
    const name = (args.profileName as string | undefined) ?? "pr";
    if (!/^[a-z][a-z0-9_-]*$/.test(name))
      throw new UserError(`'${name}' is not a profile name; profiles are lower-case words such as 'pr' or 'main'.`);
    if (args._.length > 1)
      throw new UserError(
        `'dwf verify' takes one profile, got: ${args._.join(" ")}.`,
        "Run several profiles as 'dwf verify pr && dwf verify main'.",
      );
    return runWithFlags(args, [{ primary: "check", selector: name }], `check:${name}`);
  },
});
