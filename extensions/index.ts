// The builtin stacks, in detection order: language stacks first, the Makefile/justfile
// catch-all last so it reads as "and also" in listings.
import type { Extension } from "../src/sdk/types.ts";
import { rust } from "./rust/index.ts";
import { node } from "./node/index.ts";
import { bun } from "./bun/index.ts";
import { python } from "./python/index.ts";
import { go } from "./go/index.ts";
import { custom } from "./custom/index.ts";

export const builtinExtensions: Extension[] = [rust, node, bun, python, go, custom];

export function builtinByName(name: string): Extension | undefined {
  return builtinExtensions.find((ext) => ext.name === name);
}
