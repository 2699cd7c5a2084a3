// A real image registry on loopback: Debian's docker-registry (distribution 2.8) with its own
// config (no auth, filesystem storage in a temp dir), plus a registries.conf that marks it
// insecure for podman (pointed at by CONTAINERS_REGISTRIES_CONF, never /etc).
import { mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";

export interface LocalRegistry {
  /** host:port, e.g. 127.0.0.1:41234 */
  host: string;
  /** registries.conf marking the registry insecure (http). */
  registriesConf: string;
  /** Every file under the registry's storage: equal before and after = nothing was pushed. */
  snapshot(): string[];
  /** Tags of one repository (name without host). */
  tags(repository: string): Promise<string[]>;
  stop(): Promise<void>;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

function listFiles(dir: string, root = dir): string[] {
  let out: string[] = [];
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return out;
  }
  for (const n of names.sort()) {
    const p = join(dir, n);
    if (statSync(p).isDirectory()) out = out.concat(listFiles(p, root));
    else out.push(relative(root, p));
  }
  return out;
}

export async function startRegistry(): Promise<LocalRegistry> {
  if (!Bun.which("docker-registry"))
    throw new Error("docker-registry (apt-get install docker-registry) is needed for the CI emulation tests");
  const dir = mkdtempSync(join(tmpdir(), "dwf-registry-"));
  const storage = join(dir, "storage");
  const port = await freePort();
  const host = `127.0.0.1:${port}`;
  const config = join(dir, "config.yml");
  writeFileSync(
    config,
    `version: 0.1\nlog: { level: error, accesslog: { disabled: true } }\nstorage: { filesystem: { rootdirectory: ${storage} }, delete: { enabled: true } }\nhttp: { addr: ${host} }\n`,
  );
  const registriesConf = join(dir, "registries.conf");
  writeFileSync(registriesConf, `[[registry]]\nlocation = "${host}"\ninsecure = true\n`);
  const proc = Bun.spawn(["docker-registry", "serve", config], { stdout: "ignore", stderr: "pipe" });
  let up = false;
  for (let i = 0; i < 100 && !up; i++) {
    try {
      up = (await fetch(`http://${host}/v2/`)).status === 200;
    } catch {
      await Bun.sleep(100);
    }
  }
  if (!up) {
    proc.kill("SIGKILL");
    throw new Error(`docker-registry did not answer on ${host}: ${await new Response(proc.stderr as ReadableStream).text()}`);
  }
  return {
    host,
    registriesConf,
    snapshot: () => listFiles(storage).filter((f) => !f.includes("/_uploads/")),
    async tags(repository) {
      const r = await fetch(`http://${host}/v2/${repository}/tags/list`);
      if (r.status === 404) return [];
      return (((await r.json()) as { tags?: string[] }).tags ?? []).sort();
    },
    async stop() {
      proc.kill("SIGTERM");
      await proc.exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
