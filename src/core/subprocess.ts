// External extensions: `devflow-ext-<name>` executables speaking JSON on stdio.
import type { Extension, ExtensionContext } from "./types.ts";
import type { ExtensionConfig } from "./config.ts";
import { UserError } from "./errors.ts";

export async function loadExternalExtension(
  name: string,
  _config: ExtensionConfig,
  _ctx: ExtensionContext,
  opts: { file: string; profile?: string },
): Promise<Extension> {
  throw new UserError(`${opts.file}: extensions.${name}: external extensions are not supported yet.`);
}
