// `dwf fingerprint`: placeholder until the feature lands.
import { defineCommand } from "citty";
import { UserError } from "../core/errors.ts";

export default defineCommand({
  meta: { name: "fingerprint", description: "not available yet" },
  run() {
    throw new UserError("'dwf fingerprint' is not available in this build yet.");
  },
});
