// The README's install command names the repository package.json names, so the one source of
// the repository (package.json `repository`, read by src/lib/version.ts) and the manual agree.
import { expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { repository } from "../../../src/lib/version.ts";

const ROOT = join(import.meta.dir, "../../..");

test("the README's install URL is the release download of package.json's repository", () => {
  const readme = readFileSync(join(ROOT, "README.md"), "utf8");
  const install = readme.slice(readme.indexOf("## Install"), readme.indexOf("\n## ", readme.indexOf("## Install") + 1));
  const urls = [...install.matchAll(/https:\/\/github\.com\/([^/\s]+\/[^/\s]+)\/releases\/[^\s)]*/g)];
  expect(urls.length).toBeGreaterThan(0);
  for (const m of urls) expect(m[1]).toBe(repository());
  expect(install).toContain(`https://github.com/${repository()}/releases/latest/download/install.sh`);
  expect(install).not.toContain("<owner>");
});
