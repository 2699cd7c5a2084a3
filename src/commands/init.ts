// `dwf init`: placeholder until the feature lands.
import { defineCommand } from "citty";
import { UserError } from "../core/errors.ts";

export default defineCommand({
  meta: { name: "init", description: "not available yet" },
  run() {
    throw new UserError("'dwf init' is not available in this build yet.");
  },
});
