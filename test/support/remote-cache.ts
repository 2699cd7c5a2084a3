// Test support for the remote task cache: the real `turborepo-remote-cache` server (a dev
// dependency) on 127.0.0.1 with local disk storage, run under node, whose own request log
// tells which requests it saw; and a loopback server that accepts connections and never answers.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

// Not imported from dwf.ts: the benchmarks use this module outside the test runner.
const APP = join(resolve(import.meta.dir, "../.."), "node_modules/turborepo-remote-cache/dist/app.js");

/** Starts the app on port 0 and prints the address it got: no guessing a free port. */
const LAUNCHER = `
const { createApp } = await import(process.argv[1]);
const app = createApp({ trustProxy: false });
const addr = await app.listen({ host: "127.0.0.1", port: 0 });
process.stdout.write("listening " + addr + "\\n");
`;

export interface RemoteCacheServer {
  url: string;
  /** Folder the server stores artifacts in: <storage>/<team>/<hash> (+ .tag). */
  storage: string;
  /** Requests the server logged so far, as "METHOD /path" (query left out). */
  requests(): string[];
  stop(): Promise<void>;
}

export async function startRemoteCache(opts: { token: string; readOnly?: boolean }): Promise<RemoteCacheServer> {
  if (!Bun.which("node")) throw new Error("node is needed to run turborepo-remote-cache");
  const storage = mkdtempSync(join(tmpdir(), "dwf-remote-cache-"));
  const proc = Bun.spawn(["node", "--input-type=module", "-e", LAUNCHER, APP], {
    env: {
      PATH: process.env.PATH ?? "",
      NODE_ENV: "production",
      TURBO_TOKEN: opts.token,
      STORAGE_PROVIDER: "local",
      STORAGE_PATH: storage,
      STORAGE_PATH_USE_TMP_FOLDER: "false",
      // The server keeps x-artifact-tag only when it has a key of its own; it never checks it.
      TURBO_REMOTE_CACHE_SIGNATURE_KEY: "server-side-unused",
      READ_ONLY: opts.readOnly ? "true" : "false",
      LOG_LEVEL: "info",
      ENABLE_STATUS_LOG: "true",
    },
    stdout: "pipe",
    stderr: "pipe",
  });
  const lines: string[] = [];
  let url: string | undefined;
  let ready: () => void = () => {};
  const started = new Promise<void>((r) => (ready = r));
  void (async () => {
    const decoder = new TextDecoder();
    let buf = "";
    for await (const chunk of proc.stdout) {
      buf += decoder.decode(chunk, { stream: true });
      let nl: number;
      while ((nl = buf.indexOf("\n")) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        lines.push(line);
        const m = /^listening (http:\/\/\S+)/.exec(line);
        if (m) {
          url = m[1];
          ready();
        }
      }
    }
  })();
  const stderr = new Response(proc.stderr).text();
  const timeout = setTimeout(() => ready(), 20_000);
  await Promise.race([started, proc.exited]);
  clearTimeout(timeout);
  if (!url) {
    proc.kill("SIGKILL");
    rmSync(storage, { recursive: true, force: true });
    throw new Error(`turborepo-remote-cache did not start:\n${lines.join("\n")}\n${await stderr}`);
  }
  return {
    url,
    storage,
    requests() {
      const out: string[] = [];
      for (const line of lines) {
        if (!line.startsWith("{")) continue;
        try {
          const j = JSON.parse(line) as { msg?: string; message?: string; req?: { method?: string; url?: string } };
          if ((j.message ?? j.msg) === "incoming request" && j.req?.method && j.req.url)
            out.push(`${j.req.method} ${j.req.url.split("?")[0]}`);
        } catch {}
      }
      return out;
    },
    async stop() {
      proc.kill("SIGTERM");
      const exited = await Promise.race([proc.exited.then(() => true), Bun.sleep(5000).then(() => false)]);
      if (!exited) {
        proc.kill("SIGKILL");
        await proc.exited;
      }
      rmSync(storage, { recursive: true, force: true });
    },
  };
}

/** A TCP server on loopback that accepts every connection and never sends a byte. */
export function startHangingServer(): { url: string; connections(): number; stop(): void } {
  let count = 0;
  const sockets = new Set<{ end(): void }>();
  const server = Bun.listen({
    hostname: "127.0.0.1",
    port: 0,
    socket: {
      open(s) {
        count++;
        sockets.add(s);
      },
      data() {},
      close(s) {
        sockets.delete(s);
      },
    },
  });
  return {
    url: `http://127.0.0.1:${server.port}`,
    connections: () => count,
    stop() {
      for (const s of sockets) s.end();
      server.stop(true);
    },
  };
}

/** A loopback port nothing listens on (bound, then released). */
export function closedPortUrl(): string {
  const s = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const port = s.port;
  s.stop(true);
  return `http://127.0.0.1:${port}`;
}
