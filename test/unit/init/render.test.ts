// The toolchains Dockerfile.devflow installs must work for any uid the container runner picks
// (it runs as the invoking uid:gid with HOME=/tmp), not only for the image's own user.
import { afterEach, describe, expect, test } from "bun:test";
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { proxyWrappers } from "../../../extensions/rust/index.ts";
import { renderDockerfile } from "../../../src/init/render.ts";
import { builtinExtensions } from "../../../extensions/index.ts";

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe("rust proxy wrappers", () => {
  test("a proxy reached through the wrapper finds the image's toolchain whatever HOME is", () => {
    const root = mkdtempSync(join(tmpdir(), "dwf-rust-wrap-"));
    dirs.push(root);
    const cargoHome = join(root, "cargo");
    const bin = join(root, "bin");
    mkdirSync(join(cargoHome, "bin"), { recursive: true });
    mkdirSync(bin);
    // A stand-in for the rustup proxy: reports where it would look for toolchains.
    const fake = join(cargoHome, "bin", "cargo");
    writeFileSync(fake, '#!/bin/sh\necho "$RUSTUP_HOME|$CARGO_HOME|$*"\n');
    chmodSync(fake, 0o755);

    const gen = Bun.spawnSync(["bash", "-o", "pipefail", "-c", proxyWrappers(cargoHome, "/opt/rustup", bin)]);
    expect(gen.exitCode).toBe(0);

    const env = { PATH: `${bin}:/usr/bin:/bin`, HOME: "/tmp" };
    const plain = Bun.spawnSync(["cargo", "fmt", "--all", "--", "--check"], { env });
    expect(plain.stdout.toString().trim()).toBe(`/opt/rustup|${cargoHome}|fmt --all -- --check`);
    // A user's own setting wins over the image default.
    const own = Bun.spawnSync(["cargo", "build"], { env: { ...env, RUSTUP_HOME: "/mine" } });
    expect(own.stdout.toString().trim()).toBe(`/mine|${cargoHome}|build`);
  });
});

describe("node image", () => {
  test("replaces the bundled corepack before enabling its pnpm and yarn shims", async () => {
    const { node } = await import("../../../extensions/node/index.ts");
    const lines = node.dockerfile!().install;
    const enable = lines.findIndex((l) => /corepack enable/.test(l));
    expect(enable).toBeGreaterThanOrEqual(0);
    const pinned = /npm install -g corepack@(\d+)\.(\d+)\.\d+ && corepack enable/.exec(lines[enable]!);
    expect(pinned).not.toBeNull();
    // 0.31 is the first corepack that knows the current signing keys.
    expect(Number(pinned![1]) > 0 || Number(pinned![2]) >= 31).toBe(true);
  });
});

describe("Dockerfile.devflow stages", () => {
  test("installers run in a toolchain stage; the final image has no download tools and runs as dwf under tini", () => {
    const text = renderDockerfile(builtinExtensions);
    const [stage1, stage2] = text.split(/^FROM /m).slice(1);
    expect(stage1).toMatch(/^debian:bookworm-\d{8}-slim AS toolchains/);
    expect(stage1).toContain("curl");
    expect(stage2).toMatch(/^debian:bookworm-\d{8}-slim\n/);
    // Every stack's run-time packages are in the final image, download tools are not.
    const finalApt = stage2!.split("\n").find((l) => l.includes("apt-get install"))!;
    for (const pkg of ["tini", "make", "gcc", "python3-venv"]) expect(finalApt).toContain(pkg);
    for (const pkg of ["curl", "unzip"]) expect(finalApt).not.toMatch(new RegExp(`\\b${pkg}\\b`));
    expect(stage2).not.toMatch(/^RUN .*curl/m);
    for (const dir of ["/usr/local", "/opt", "/home/dwf"])
      expect(stage2).toContain(`COPY --from=toolchains ${dir === "/home/dwf" ? "--chown=1001:1001 " : ""}${dir} ${dir}`);
    expect(stage2).toContain("USER dwf");
    expect(stage2).toContain('ENTRYPOINT ["/usr/bin/tini", "--"]');
    expect(text).not.toContain("chown -R");
  });
});
