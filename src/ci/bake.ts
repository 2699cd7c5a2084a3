// docker-bake.hcl for the CI image, filled in from templates/docker-bake.hcl (embedded in
// the binary). Exported for `dwf init` too, so both write the same file.
import template from "../../templates/docker-bake.hcl" with { type: "text" };
import type { CiSettings } from "./model.ts";

export function renderBakeFile(s: Pick<CiSettings, "image" | "platforms" | "dockerfile">): string {
  const platforms = s.platforms.map((p) => JSON.stringify(p)).join(", ");
  return template
    .replaceAll("{{IMAGE}}", s.image ?? "localhost/dwf-ci")
    .replaceAll("{{DOCKERFILE}}", s.dockerfile)
    .replaceAll("{{PLATFORMS}}", platforms);
}
