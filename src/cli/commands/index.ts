// The command map. Lazy imports keep `dwf --version` from loading what it does not need.
import type { CommandDef } from "citty";

type Loader = () => Promise<CommandDef<any>>;

export const commands: Record<string, Loader> = {
  verify: () => import("./verify.ts").then((m) => m.default),
  run: () => import("./run.ts").then((m) => m.default),
  warm: () => import("./warm.ts").then((m) => m.default),
  init: () => import("./init.ts").then((m) => m.default),
  doctor: () => import("./doctor.ts").then((m) => m.default),
  fingerprint: () => import("./fingerprint.ts").then((m) => m.default),
  image: () => import("./image.ts").then((m) => m.default),
  shell: () => import("./shell.ts").then((m) => m.default),
  ci: () => import("./ci.ts").then((m) => m.default),
  cache: () => import("./cache.ts").then((m) => m.default),
  upgrade: () => import("./upgrade.ts").then((m) => m.default),
};

/** `primary:selector` spellings that name a builtin command rather than a task. */
export const ALIASES: Record<string, { command: string; args: string[] }> = {
  "setup:doctor": { command: "doctor", args: [] },
  "prune:cache": { command: "cache", args: ["prune"] },
  "ci:render": { command: "ci", args: ["generate"] },
  smoke: { command: "run", args: ["test:smoke"] },
};

/** Commands whose `:selector` form is a sub-command (`ci:check` = `ci check`). */
export const SELECTOR_COMMANDS = new Set(["ci", "cache", "image"]);
