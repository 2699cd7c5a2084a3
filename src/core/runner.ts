// The runner contract: turn a resolved task into a running process and report its outcome.
// Host and container runners implement it; the scheduler only ever sees this interface.
import type { ExecutionAction } from "../sdk/types.ts";
import type { Prepared, Project } from "./prepare.ts";

export interface RunRequest {
  /** Task id, used for container names and messages. */
  id: string;
  action: ExecutionAction;
  /** Absolute working directory on the host. */
  cwd: string;
  /** Env the core adds on top of the inherited environment (extension + cache env + action env). */
  env: Record<string, string>;
  /** Inherited variables the task must not see (those its cache key leaves out). */
  unset?: readonly string[];
  signal: AbortSignal;
  /** Called with output as it arrives, when the caller streams live. */
  onOutput?: (chunk: string) => void;
}

export interface RunOutcome {
  exitCode: number;
  output: string;
  durationMs: number;
  /** Set when the process could not start or was killed; shown instead of a bare code. */
  error?: string;
}

/** Where a run's actions run: on the host, or in the project's image through a container engine. */
export type RuntimeKind = "host" | "container";

export interface Runner {
  kind: RuntimeKind;
  /** The exact argv this request runs, for --dry-run and DWF_LOG=debug. */
  commandLine(req: Omit<RunRequest, "signal">): string[];
  /**
   * Called once the plan is known, before anything runs or is printed: a container runner
   * collects every stack's cache mounts here (on a dry run it also finds its engine).
   */
  prepare?(prepared: Prepared, opts: { dryRun: boolean }): Promise<void>;
  /**
   * Called once before the first task really runs, and not at all when every task is a cache
   * hit: a container runner finds its engine and makes sure its image exists here (its run()
   * does so too when this was not called).
   */
  start?(): Promise<void>;
  /**
   * Where extensions' `which()` finds tools, when not on the host: the container runner
   * answers from its image. Called once the project is loaded, before any action is built.
   */
  toolProbe?(project: Project, cacheRoot: string, shared?: SharedToolAnswers): Promise<ToolProbe>;
  run(req: RunRequest): Promise<RunOutcome>;
  /** Stop every process (and container) this runner started that is still alive. */
  stopAll(): Promise<void>;
  /** Called once after the run, whatever its end: finish clean-up still in flight (container removal). */
  close?(): Promise<void>;
}

/** Where extensions' `which()` finds tools when they are not looked up on the host (runtime/tool-probe.ts answers from the image). */
export interface ToolProbe {
  /** The image's answer, or null (and the name noted as pending) when not known yet. */
  which(program: string): string | null;
  /** Names asked that the image has not answered yet. */
  pending(): string[];
  /** Whether every answer given so far came from the image. */
  settled(): boolean;
  /**
   * Look the pending names up in the image and remember the answers. With `ifPresent` (a dry
   * run, which builds nothing) an absent image is no error: false, nothing learnt.
   */
  probe(opts?: { ifPresent?: boolean }): Promise<boolean>;
}

/**
 * The image's tool answers as other machines found them (the remote cache): facts about an
 * image reference, which carries its fingerprint. A probe asks here before it asks the image,
 * and leaves what the image answered.
 */
export interface SharedToolAnswers {
  /** name → path in the image (null: absent), or undefined when nothing usable is shared. */
  get(ref: string): Promise<Record<string, string | null> | undefined>;
  put(ref: string, tools: Record<string, string | null>): Promise<void>;
  /** Set once the server turned out unusable this run (the warning given): the task cache goes without it. */
  readonly unavailable?: string;
}

/** Keep the head and tail of very large output so memory stays bounded. */
export class OutputBuffer {
  private chunks: string[] = [];
  private size = 0;
  private dropped = 0;
  constructor(private readonly limit = 8 * 1024 * 1024) {}
  push(text: string): void {
    this.chunks.push(text);
    this.size += text.length;
    while (this.size > this.limit && this.chunks.length > 1) {
      const removed = this.chunks.splice(1, 1)[0]!;
      this.size -= removed.length;
      this.dropped += removed.length;
    }
  }
  toString(): string {
    if (!this.dropped) return this.chunks.join("");
    const [head, ...rest] = this.chunks;
    return `${head}\n… ${this.dropped} characters of output omitted …\n${rest.join("")}`;
  }
}
