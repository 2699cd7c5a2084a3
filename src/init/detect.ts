// Which builtin stacks `dwf init` sets up: the ones named on the command line, else the ones
// whose detect() recognises the repository, and which commands each can really run there.
import type { Extension, ExtensionContext } from "../sdk/types.ts";
import { UserError } from "../lib/errors.ts";
import { didYouMean } from "../lib/suggest.ts";
import { parseCommandRef } from "../sdk/command-ref.ts";
import { supports } from "../core/plan.ts";
import { DEFAULT_TARGETS } from "../core/prepare.ts";

interface ChosenStacks {
  stacks: Extension[];
  /** "detected" when read from the repository, "named" when given as arguments. */
  how: "detected" | "named";
}

export async function chooseStacks(names: string[], ctx: ExtensionContext, builtinExtensions: readonly Extension[]): Promise<ChosenStacks> {
  const known = builtinExtensions.map((e) => e.name);
  if (names.length) {
    const stacks: Extension[] = [];
    for (const name of names) {
      const ext = builtinExtensions.find((e) => e.name === name);
      if (!ext) {
        throw new UserError(
          `dwf init: unknown stack '${name}'.${didYouMean(name, known)}`,
          `Builtin stacks: ${known.join(", ")}. For another stack, write an external extension (see "Writing an extension" in the README).`,
        );
      }
      if (!stacks.includes(ext)) stacks.push(ext);
    }
    return { stacks, how: "named" };
  }
  const stacks: Extension[] = [];
  for (const ext of builtinExtensions) if (await ext.detect(ctx)) stacks.push(ext);
  if (stacks.length === 0) {
    throw new UserError(
      `dwf init: no known stack detected in ${ctx.root}.`,
      `Run it in the repository root, or name the stacks: dwf init <stack…> (builtin: ${known.join(", ")}).`,
    );
  }
  return { stacks, how: "detected" };
}

/**
 * The profile's commands that at least one stack can run here: it claims the capability
 * and its buildAction gives an action rather than a skip (e.g. a missing script).
 */
async function runnableCommands(candidates: readonly string[], stacks: Extension[], ctx: ExtensionContext): Promise<string[]> {
  const out: string[] = [];
  for (const raw of candidates) {
    const ref = parseCommandRef(raw);
    for (const ext of stacks) {
      if (!supports(await ext.capabilities(ctx), ref)) continue;
      const result = await ext.buildAction(ref, ctx);
      if ("action" in result) {
        out.push(raw);
        break;
      }
    }
  }
  return out;
}

export async function initTargets(stacks: Extension[], ctx: ExtensionContext): Promise<{ pr: string[]; main: string[] }> {
  return {
    pr: await runnableCommands(DEFAULT_TARGETS.pr!, stacks, ctx),
    main: await runnableCommands(DEFAULT_TARGETS.main!, stacks, ctx),
  };
}
