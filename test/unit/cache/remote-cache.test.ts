// The remote cache's pure parts: settings from file + environment + flag, the signature, the
// tar format, and every way a downloaded artifact is refused before a byte is written.
import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import {
  ArtifactError,
  ENTRY_NAME,
  MAX_UNPACKED_BYTES,
  artifactTag,
  packArtifact,
  remoteHash,
  restoreOutputs,
  tagMatches,
  unpackArtifact,
  type RemoteEntry,
} from "../../../src/cache/artifact.ts";
import { createRemoteClient } from "../../../src/cache/remote-client.ts";
import { resolveRemoteSettings } from "../../../src/cache/remote-settings.ts";
import { readTar, writeTar, TarError, type TarEntry } from "../../../src/cache/tar.ts";
import { parseConfigText } from "../../../src/core/config-schema.ts";
import { UserError } from "../../../src/lib/errors.ts";
import { node } from "../../../extensions/node/index.ts";
import { rust } from "../../../extensions/rust/index.ts";
import { createContext } from "../../../src/core/context.ts";

const dirs: string[] = [];
const tmp = () => {
  const d = mkdtempSync(join(tmpdir(), "dwf-remote-unit-"));
  dirs.push(d);
  return d;
};
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

const config = (remote: Record<string, unknown>) => ({ cache: { remote } }) as never;
const ENV = { DWF_REMOTE_CACHE_TOKEN: "tok-123", DWF_REMOTE_CACHE_SIGNATURE_KEY: "sig-key" };

describe("resolveRemoteSettings", () => {
  test("file settings with the token and signature key from the environment", () => {
    const r = resolveRemoteSettings(config({ url: "https://cache.example.com/", team: "acme", timeout: 3 }), "/p/devflow.toml", ENV);
    expect(r).toEqual({
      settings: {
        url: "https://cache.example.com",
        team: "acme",
        token: "tok-123",
        tokenVar: "DWF_REMOTE_CACHE_TOKEN",
        signatureKey: "sig-key",
        mode: "readwrite",
        timeoutMs: 3000,
      },
    });
  });
  test("Turborepo's variable names work too; DWF_ names win over them and over the file", () => {
    const turbo = resolveRemoteSettings(config({}), null, {
      TURBO_API: "http://t:1",
      TURBO_TEAM: "team_x",
      TURBO_TOKEN: "tt",
      TURBO_REMOTE_CACHE_SIGNATURE_KEY: "k",
    });
    expect("settings" in turbo && turbo.settings).toMatchObject({
      url: "http://t:1",
      team: "team_x",
      tokenVar: "TURBO_TOKEN",
      timeoutMs: 2000,
    });
    const both = resolveRemoteSettings(config({ url: "http://file:1", team: "f" }), null, {
      ...ENV,
      DWF_REMOTE_CACHE_URL: "http://env:2",
      TURBO_API: "http://t:1",
      DWF_REMOTE_CACHE_TEAM: "e",
      TURBO_TOKEN: "tt",
    });
    expect("settings" in both && both.settings).toMatchObject({ url: "http://env:2", team: "e", token: "tok-123" });
  });
  test("mode: flag over DWF_REMOTE_CACHE over read_only", () => {
    const mode = (flag: string | undefined, env: Record<string, string>, readOnly?: boolean) => {
      const r = resolveRemoteSettings(config({ url: "http://x:1", team: "t", read_only: readOnly }), null, { ...ENV, ...env }, flag);
      return "settings" in r ? r.settings.mode : `off: ${r.off}`;
    };
    expect(mode(undefined, {})).toBe("readwrite");
    expect(mode(undefined, {}, true)).toBe("read");
    expect(mode(undefined, { DWF_REMOTE_CACHE: "read" })).toBe("read");
    expect(mode("readwrite", { DWF_REMOTE_CACHE: "read" }, true)).toBe("readwrite");
    expect(mode("off", {})).toBe("off: --remote-cache=off");
    expect(() => mode(undefined, { DWF_REMOTE_CACHE: "sometimes" })).toThrow(
      /DWF_REMOTE_CACHE is 'sometimes': expected one of off, read, readwrite/,
    );
  });
  test("no token (a fork's pull request) is off quietly; no signature key is off with a warning", () => {
    const noToken = resolveRemoteSettings(config({ url: "http://x:1", team: "t" }), null, {});
    expect(noToken).toMatchObject({ off: expect.stringContaining("no token"), configured: true, warn: undefined });
    const noKey = resolveRemoteSettings(config({ url: "http://x:1", team: "t" }), null, { DWF_REMOTE_CACHE_TOKEN: "tok-123" });
    expect(noKey).toMatchObject({
      off: expect.stringContaining("signature"),
      warn: expect.stringContaining("DWF_REMOTE_CACHE_SIGNATURE_KEY"),
    });
  });
  test("a URL without a team is a user error naming the key; a bad URL in the environment too", () => {
    expect(() => resolveRemoteSettings(config({ url: "http://x:1" }), "/p/devflow.toml", ENV)).toThrow(
      "/p/devflow.toml: cache.remote.team is not set",
    );
    expect(() => resolveRemoteSettings(config({}), null, { ...ENV, DWF_REMOTE_CACHE_URL: "ftp://x", DWF_REMOTE_CACHE_TEAM: "t" })).toThrow(
      UserError,
    );
  });
});

describe("[cache.remote] in devflow.toml", () => {
  const parse = (toml: string) => parseConfigText(toml, "devflow.toml");
  test("valid keys parse", () => {
    const c = parse(
      `[cache.remote]\nurl = "https://c.example.com"\nteam = "acme"\nread_only = true\ntimeout = 1.5\n[cache.outputs]\n"build:debug" = ["out", "dist/"]\n`,
    );
    expect(c.cache?.remote).toEqual({ url: "https://c.example.com", team: "acme", read_only: true, timeout: 1.5 });
  });
  test("a token in the file says where it goes instead", () => {
    expect(() => parse(`[cache.remote]\nurl = "https://c.example.com"\ntoken = "abc"\n`)).toThrow(
      "devflow.toml: cache.remote.token: secrets never go in devflow.toml",
    );
    try {
      parse(`[cache.remote]\nsignature_key = "abc"\n`);
    } catch (e) {
      expect((e as UserError).hint).toContain("DWF_REMOTE_CACHE_SIGNATURE_KEY");
    }
  });
  test("errors name the key path", () => {
    expect(() => parse(`[cache.remote]\nurl = "cache.example.com"\n`)).toThrow(
      "devflow.toml: cache.remote.url: expected an http:// or https:// URL",
    );
    expect(() => parse(`[cache.remote]\ntimeout = "2s"\n`)).toThrow("devflow.toml: cache.remote.timeout: expected a number, found string");
    expect(() => parse(`[cache.remote]\nread_only = "yes"\n`)).toThrow("cache.remote.read_only: expected true or false");
    expect(() => parse(`[cache.remote]\nurll = "http://x"\n`)).toThrow(
      /unknown key 'cache.remote.urll'. Did you mean 'url'\?.*Allowed keys in \[cache.remote\]: url, team, read_only, timeout/,
    );
    expect(() => parse(`[cache.outputs]\n"build:debug" = ["../up"]\n`)).toThrow(
      `devflow.toml: cache.outputs."build:debug"[0]: '../up' must be a path relative to the project root`,
    );
  });
});

describe("signature", () => {
  test("HMAC-SHA256 over hash, team and body, base64; any change breaks it", () => {
    const body = new TextEncoder().encode("artifact");
    const tag = artifactTag("k", "h", "team", body);
    const h = new Bun.CryptoHasher("sha256", "k");
    h.update("h" + "team" + "artifact");
    expect(tag).toBe(h.digest("base64"));
    expect(tagMatches(tag, tag)).toBe(true);
    expect(tagMatches(tag, artifactTag("other", "h", "team", body))).toBe(false);
    expect(tagMatches(tag, artifactTag("k", "h", "team2", body))).toBe(false);
    expect(tagMatches(tag, artifactTag("k", "h", "team", new TextEncoder().encode("artifacT")))).toBe(false);
    expect(tagMatches(tag, null)).toBe(false);
    expect(remoteHash("a")).toMatch(/^[0-9a-f]{64}$/);
    expect(remoteHash("a")).not.toBe(remoteHash("b"));
  });
});

describe("tar", () => {
  test("round-trips files, folders, symlinks and long names; GNU tar reads it", () => {
    const long = `${"deep/".repeat(30)}file-é.txt`;
    const entries: TarEntry[] = [
      { type: "dir", path: "out", mode: 0o755 },
      { type: "file", path: "out/a.txt", mode: 0o644, data: new TextEncoder().encode("a\n") },
      { type: "file", path: long, mode: 0o755, data: new Uint8Array(700).fill(7) },
      { type: "symlink", path: "out/link", target: "a.txt" },
    ];
    const tar = writeTar(entries);
    expect(readTar(tar)).toEqual(entries);
    const dir = tmp();
    writeFileSync(join(dir, "x.tar"), tar);
    const listed = Bun.spawnSync(["tar", "-tf", join(dir, "x.tar")])
      .stdout.toString()
      .trim()
      .split("\n");
    expect(listed).toEqual(["out/", "out/a.txt", long, "out/link"]);
  });
  test("truncation, a bad checksum and devices are errors", () => {
    const tar = writeTar([{ type: "file", path: "a", mode: 0o644, data: new Uint8Array(2000) }]);
    expect(() => readTar(tar.subarray(0, 1024))).toThrow(TarError);
    expect(() => readTar(tar.subarray(0, 2048))).toThrow(/truncated/);
    const bad = tar.slice();
    bad[0] = 98;
    expect(() => readTar(bad)).toThrow(/checksum/);
    const dev = writeTar([{ type: "file", path: "d", mode: 0o644, data: new Uint8Array(0) }]);
    dev[156] = "3".charCodeAt(0);
    // Fix the checksum so only the type is wrong.
    let sum = 0;
    for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 32 : dev[i]!;
    dev.set(new TextEncoder().encode(sum.toString(8).padStart(6, "0") + "\0 "), 148);
    expect(() => readTar(dev)).toThrow(/unsupported type '3'/);
  });
});

describe("artifacts", () => {
  const entry = (over: Partial<RemoteEntry> = {}): RemoteEntry => ({
    version: 1,
    key: "k1",
    task: "build:debug@custom",
    durationMs: 5,
    output: "ok\n",
    outputs: ["out"],
    ...over,
  });
  const artifact = (extra: TarEntry[], e = entry()) =>
    gzipSync(writeTar([{ type: "file", path: ENTRY_NAME, mode: 0o644, data: new TextEncoder().encode(JSON.stringify(e)) }, ...extra]));
  const expectOk = { key: "k1", task: "build:debug@custom", outputs: ["out"] };
  const file = (path: string, text = "x"): TarEntry => ({ type: "file", path, mode: 0o644, data: new TextEncoder().encode(text) });

  test("pack then unpack and restore reproduces the outputs, symlinks inside kept", () => {
    const a = tmp();
    mkdirSync(join(a, "out/sub"), { recursive: true });
    writeFileSync(join(a, "out/sub/app.txt"), "built\n");
    writeFileSync(join(a, "out/run.sh"), "#!/bin/sh\n", { mode: 0o755 });
    symlinkSync("sub/app.txt", join(a, "out/latest"));
    symlinkSync("/etc/passwd", join(a, "out/outside"));
    const body = packArtifact(a, entry());
    const b = tmp();
    const { entry: e, files } = unpackArtifact(body, expectOk);
    expect(e.output).toBe("ok\n");
    restoreOutputs(b, files);
    expect(readFileSync(join(b, "out/sub/app.txt"), "utf8")).toBe("built\n");
    expect(lstatSync(join(b, "out/run.sh")).mode & 0o111).not.toBe(0);
    expect(readlinkSync(join(b, "out/latest"))).toBe("sub/app.txt");
    // A link leading out is never packed.
    expect(existsSync(join(b, "out/outside"))).toBe(false);
  });

  test("refused: another key or task, damage, truncation, paths escaping, links out, entries outside the outputs", () => {
    const refuse = (body: Uint8Array, pattern: RegExp) => expect(() => unpackArtifact(body, expectOk)).toThrow(pattern);
    refuse(artifact([], entry({ key: "other" })), /another key or task/);
    refuse(artifact([], entry({ task: "test:unit@custom" })), /another key or task/);
    const whole = artifact([file("out/a")]);
    refuse(whole.subarray(0, whole.length - 20), /gzip|truncated/);
    refuse(gzipSync(writeTar([file("out/a")])), /no result entry/);
    refuse(artifact([file("../evil")]), /not a plain relative path/);
    refuse(artifact([file("out/../../evil")]), /not a plain relative path/);
    refuse(artifact([file("/etc/evil")]), /not a plain relative path/);
    refuse(artifact([file("src/main.rs")]), /not under the task's declared outputs/);
    refuse(artifact([{ type: "symlink", path: "out/l", target: "/etc" }]), /points outside the project/);
    refuse(artifact([{ type: "symlink", path: "out/l", target: "../../x" }]), /points outside the project/);
    refuse(artifact([{ type: "symlink", path: "out/l", target: "." }, file("out/l/x")]), /below the symlink/);
    expect(() => unpackArtifact(artifact([file("out/a")]), { ...expectOk, outputs: [] })).toThrow(/declared outputs \(none\)/);
  });

  test("refused: an archive unpacking past the size cap", () => {
    // Zeros compress about 1000:1: a small download that would fill a disk.
    const cap = 4 * 1024 * 1024;
    const bomb = gzipSync(new Uint8Array(cap + 1024));
    expect(bomb.length).toBeLessThan(cap / 100);
    expect(() => unpackArtifact(bomb, expectOk, cap)).toThrow(/unpacks to more than 4 MiB/);
    expect(MAX_UNPACKED_BYTES).toBeGreaterThan(cap);
  });

  test("restore never writes through a symlinked folder leading out of the project", () => {
    const root = tmp();
    const outside = tmp();
    symlinkSync(outside, join(root, "out"));
    const { files } = unpackArtifact(artifact([file("out/a", "pwned")]), expectOk);
    expect(() => restoreOutputs(root, files)).toThrow(ArtifactError);
    expect(existsSync(join(outside, "a"))).toBe(false);
  });
});

describe("declared outputs of the builtin stacks", () => {
  test("node builds leave dist/, rust builds their profile's target folder; other commands nothing", () => {
    const ctx = createContext(tmp(), {});
    const ref = (r: string) => ({ primary: r.split(":")[0]!, selector: r.split(":")[1]! });
    expect(node.taskOutputs!(ref("build:debug"), ctx)).toEqual(["dist"]);
    expect(node.taskOutputs!(ref("test:unit"), ctx)).toEqual([]);
    expect(rust.taskOutputs!(ref("build:debug"), ctx)).toEqual(["target/debug"]);
    expect(rust.taskOutputs!(ref("build:release"), ctx)).toEqual(["target/release"]);
    expect(rust.taskOutputs!(ref("lint:static"), ctx)).toEqual([]);
  });
});

describe("the HTTP client against loopback servers", () => {
  const settings = (url: string) => ({
    url,
    team: "acme",
    token: "tok-123",
    tokenVar: "DWF_REMOTE_CACHE_TOKEN",
    signatureKey: "k",
    mode: "readwrite" as const,
    timeoutMs: 2000,
  });
  /** A raw TCP server answering every request with these bytes, then closing. */
  const rawServer = (reply: string | Uint8Array) =>
    Bun.listen({
      hostname: "127.0.0.1",
      port: 0,
      socket: {
        data(s) {
          s.write(reply);
          s.end();
        },
      },
    });

  test("a body over the cap is cut off, announced or not; a short body is an error, not a hit", async () => {
    const big = new Uint8Array(3 * 1024 * 1024);
    const server = Bun.serve({
      hostname: "127.0.0.1",
      port: 0,
      fetch(req) {
        expect(req.headers.get("authorization")).toBe("Bearer tok-123");
        const path = new URL(req.url).pathname;
        if (path.endsWith("/announced")) return new Response(big);
        if (path.endsWith("/chunked"))
          return new Response(
            new ReadableStream({
              pull(c) {
                c.enqueue(new Uint8Array(256 * 1024));
              },
            }),
          );
        return new Response("ok", { headers: { "x-artifact-tag": "t" } });
      },
    });
    try {
      const client = createRemoteClient(settings(`http://127.0.0.1:${server.port}`), { maxBytes: 1024 * 1024 });
      const signal = AbortSignal.timeout(5000);
      expect(await client.get("announced", signal)).toEqual({ kind: "error", message: "artifact is over the 1 MiB cap" });
      expect(await client.get("chunked", signal)).toEqual({ kind: "error", message: "artifact is over the 1 MiB cap" });
      const ok = await client.get("small", signal);
      expect(ok.kind === "hit" && new TextDecoder().decode(ok.body)).toBe("ok");
    } finally {
      server.stop(true);
    }
    const short = rawServer("HTTP/1.1 200 OK\r\nContent-Length: 1000\r\nx-artifact-tag: t\r\n\r\nonly-a-little");
    try {
      const r = await createRemoteClient(settings(`http://127.0.0.1:${short.port}`)).get("h", AbortSignal.timeout(5000));
      expect(r).toEqual({ kind: "error", message: "the body ended early (truncated: ECONNRESET)" });
    } finally {
      short.stop(true);
    }
  });
});
