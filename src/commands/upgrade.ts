// `dwf upgrade`: placeholder until the feature lands.
import { defineCommand } from "citty";
import { UserError } from "../core/errors.ts";

export default defineCommand({
  meta: { name: "upgrade", description: "not available yet" },
  run() {
    throw new UserError("'dwf upgrade' is not available in this build yet.");
  },
});
