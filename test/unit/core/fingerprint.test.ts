// The fingerprint: same tree → same hash at any path and in any order; any input change
// (or a missing file) changes it; file hashes match SHA-256 across chunk boundaries.
import { afterAll, describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { mkdtempSync, writeFileSync, mkdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { computeFingerprint, dockerfileCopySources, hashFileSync } from "../../../src/core/fingerprint.ts";

const made: string[] = [];
afterAll(() => {
  for (const d of made.splice(0)) rmSync(d, { recursive: true, force: true });
});

function tree(files: Record<string, string | Uint8Array>): string {
  const dir = mkdtempSync(join(tmpdir(), "dwf-fp-"));
  made.push(dir);
  for (const [p, c] of Object.entries(files)) {
    mkdirSync(join(dir, p, ".."), { recursive: true });
    writeFileSync(join(dir, p), c);
  }
  return dir;
}

const wanted = (...paths: string[]) => new Map(paths.map((p) => [p, ["test"]]));

describe("computeFingerprint", () => {
  test("is independent of checkout path and of input order", async () => {
    const files = { "Dockerfile.devflow": "FROM x\n", "a/lock.txt": "1\n" };
    const one = await computeFingerprint(tree(files), wanted("Dockerfile.devflow", "a/lock.txt"));
    const two = await computeFingerprint(tree(files), wanted("a/lock.txt", "Dockerfile.devflow"));
    expect(one.hash).toMatch(/^[0-9a-f]{64}$/);
    expect(two.hash).toBe(one.hash);
    expect(one.inputs.map((i) => i.path)).toEqual(["Dockerfile.devflow", "a/lock.txt"]);
  });

  test("changes when an input's content changes, and marks missing inputs", async () => {
    const base = await computeFingerprint(tree({ "Dockerfile.devflow": "FROM x\n", lock: "1" }), wanted("Dockerfile.devflow", "lock"));
    const changed = await computeFingerprint(tree({ "Dockerfile.devflow": "FROM x\n", lock: "2" }), wanted("Dockerfile.devflow", "lock"));
    const missing = await computeFingerprint(tree({ "Dockerfile.devflow": "FROM x\n" }), wanted("Dockerfile.devflow", "lock"));
    const empty = await computeFingerprint(tree({ "Dockerfile.devflow": "FROM x\n", lock: "" }), wanted("Dockerfile.devflow", "lock"));
    expect(new Set([base.hash, changed.hash, missing.hash, empty.hash]).size).toBe(4);
    expect(missing.inputs.find((i) => i.path === "lock")!.hash).toBeNull();
  });

  test("a renamed input changes the hash even with identical content", async () => {
    const a = await computeFingerprint(tree({ x: "same" }), wanted("x"));
    const b = await computeFingerprint(tree({ y: "same" }), wanted("y"));
    expect(a.hash).not.toBe(b.hash);
  });
});

describe("hashFile", () => {
  test("matches SHA-256 for empty, small and multi-chunk files; null when missing or a directory", async () => {
    const big = new Uint8Array(9 * 1024 * 1024 + 7).map((_, i) => (i * 31) & 0xff);
    const dir = tree({ empty: "", small: "hello\n", big });
    for (const [name, content] of [
      ["empty", ""],
      ["small", "hello\n"],
      ["big", big],
    ] as const) {
      expect(hashFileSync(join(dir, name))).toBe(createHash("sha256").update(content).digest("hex"));
    }
    expect(hashFileSync(join(dir, "nope"))).toBeNull();
    expect(hashFileSync(dir)).toBeNull();
  });

  test("a FIFO named as an input is a clear error, not a hang", () => {
    const dir = tree({});
    const fifo = join(dir, "pipe");
    expect(Bun.spawnSync(["mkfifo", fifo]).exitCode).toBe(0);
    expect(() => hashFileSync(fifo)).toThrow(/fingerprint input .*pipe is not a regular file/);
  });
});

describe("dockerfileCopySources", () => {
  test("lists the build-context files COPY/ADD bring into the image, not other stages, URLs or the whole context", () => {
    const text = [
      "FROM base AS tools",
      "COPY make-shim /bin/make",
      "copy --chown=1001:1001 --chmod=755 ./tools/a.sh tools/b.sh /opt/",
      'COPY ["scripts/with space.sh", "/x"]',
      "ADD https://example.invalid/x.tar.gz /tmp/",
      "COPY --from=tools /usr/local /usr/local",
      "COPY . /src",
      "COPY ../outside /x",
      "COPY conf/*.ini \\",
      "  /etc/",
      "RUN echo COPY not-a-copy /x",
    ].join("\n");
    expect(dockerfileCopySources(text)).toEqual(["make-shim", "tools/a.sh", "tools/b.sh", "scripts/with space.sh", "conf/*.ini"]);
  });
});
