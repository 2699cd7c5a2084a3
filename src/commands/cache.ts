// `dwf cache`: placeholder until the feature lands.
import { defineCommand } from "citty";
import { UserError } from "../core/errors.ts";

export default defineCommand({
  meta: { name: "cache", description: "not available yet" },
  run() {
    throw new UserError("'dwf cache' is not available in this build yet.");
  },
});
