// `dwf image`: placeholder until the feature lands.
import { defineCommand } from "citty";
import { UserError } from "../core/errors.ts";

export default defineCommand({
  meta: { name: "image", description: "not available yet" },
  run() {
    throw new UserError("'dwf image' is not available in this build yet.");
  },
});
