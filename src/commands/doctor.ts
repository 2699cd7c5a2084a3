// `dwf doctor`: placeholder until the feature lands.
import { defineCommand } from "citty";
import { UserError } from "../core/errors.ts";

export default defineCommand({
  meta: { name: "doctor", description: "not available yet" },
  run() {
    throw new UserError("'dwf doctor' is not available in this build yet.");
  },
});
