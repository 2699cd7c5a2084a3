// The CI model: settings drawn from devflow.toml (plain data) and the job plan derived
// from a profile's commands. Pure: the workflow renderer and `dwf ci plan` both read it.
import { imageHost } from "../core/image-name.ts";

export type CiMode = "jobs" | "single";

export interface CiSettings {
  /** Profile under [targets] the workflow runs. */
  profile: string;
  /** Every profile, expanded to `primary:selector` commands in profile order. */
  profiles: Record<string, string[]>;
  mode: CiMode;
  /** Image name without tag; null = derived in CI as ghcr.io/<owner>/<repo>-ci. */
  image: string | null;
  platforms: string[];
  /** dwf release the workflow installs. */
  dwfVersion: string;
  /** `owner/name` of the repository dwf releases come from. */
  repository: string;
  /** Default branch: pushes to it run the workflow. */
  branch: string;
  dockerfile: string;
  /** DWF_CACHE_ROOT relative to the repository root: what actions/cache saves. */
  cacheDir: string;
  bakeFile: string;
}

export type JobKind = "prep" | "build" | "verify" | "single";

export interface CiJob {
  id: string;
  name: string;
  kind: JobKind;
  needs: string[];
  /** Runs inside the fingerprinted image. */
  container: boolean;
  /** dwf commands run one after the other. */
  sequential: string[];
  /** dwf commands run at once (single mode only). */
  parallel: string[];
  cache: "save" | "restore" | "none";
}

export const DERIVED_IMAGE = "ghcr.io/<owner>/<repo>-ci";

/** Setup and build commands warm the cache in the build job; everything else verifies. */
export function isBuildPhase(command: string): boolean {
  const primary = command.split(":")[0];
  return primary === "setup" || primary === "build";
}

export function jobId(command: string): string {
  return command.replace(/[^a-z0-9_-]+/g, "-");
}

/** Jobs for one profile's commands, in the order they run. */
export function planJobs(commands: string[], mode: CiMode): CiJob[] {
  const build = commands.filter(isBuildPhase);
  const checks = commands.filter((c) => !isBuildPhase(c));
  const prep: CiJob = { id: "prep", name: "prep: CI image", kind: "prep", needs: [], container: false, sequential: ["fingerprint"], parallel: [], cache: "none" };
  if (mode === "single") {
    return [prep, { id: "verify", name: "verify", kind: "single", needs: ["prep"], container: true, sequential: build, parallel: checks, cache: "save" }];
  }
  const jobs: CiJob[] = [prep];
  if (build.length > 0) {
    jobs.push({ id: "build", name: `build (${build.join(", ")})`, kind: "build", needs: ["prep"], container: true, sequential: build, parallel: [], cache: "save" });
  }
  const needs = build.length > 0 ? ["prep", "build"] : ["prep"];
  for (const c of checks) {
    jobs.push({ id: jobId(c), name: c, kind: "verify", needs, container: true, sequential: [c], parallel: [], cache: build.length > 0 ? "restore" : "none" });
  }
  return jobs;
}

/** Stage of each job (1 = first), from its `needs`. */
export function jobStages(jobs: CiJob[]): Map<string, number> {
  const stage = new Map<string, number>();
  for (const j of jobs) stage.set(j.id, 1 + Math.max(0, ...j.needs.map((n) => stage.get(n) ?? 0)));
  return stage;
}

/** Registry host of an image name: the one it names, else Docker Hub; no image means ghcr.io. */
export function registryHost(image: string | null): string {
  if (image === null) return "ghcr.io";
  return imageHost(image) ?? "docker.io";
}
