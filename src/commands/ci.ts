// `dwf ci`: placeholder until the feature lands.
import { defineCommand } from "citty";
import { UserError } from "../core/errors.ts";

export default defineCommand({
  meta: { name: "ci", description: "not available yet" },
  run() {
    throw new UserError("'dwf ci' is not available in this build yet.");
  },
});
