// `dwf shell`: placeholder until the feature lands.
import { defineCommand } from "citty";
import { UserError } from "../core/errors.ts";

export default defineCommand({
  meta: { name: "shell", description: "not available yet" },
  run() {
    throw new UserError("'dwf shell' is not available in this build yet.");
  },
});
