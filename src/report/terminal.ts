// Human output for a run: a status line on a TTY (plain lines in CI), each task's output
// as one uninterleaved block, and a summary table.
import type { Task } from "../core/plan.ts";
import { statusCounts, type SchedulerEvents, type TaskResult, type TaskStatus } from "../core/scheduler.ts";
import { formatRef } from "../sdk/command-ref.ts";
import { redactText } from "../lib/redact.ts";
import { style } from "../lib/style.ts";
import { writeStderr } from "../lib/out.ts";

interface TerminalOptions {
  write: (text: string) => void;
  /** Whether to draw a live status line (interactive terminal, not CI). */
  tty: boolean;
  verbose: boolean;
  /** Stream the output of a task as it arrives (only one task can run at a time). */
  live: boolean;
  total: number;
}

const ICON: Record<TaskStatus, string> = { passed: "✔", failed: "✖", skipped: "○", cached: "◆", cancelled: "■" };
const COLOR: Record<TaskStatus, (s: string) => string> = {
  passed: style.green,
  failed: style.red,
  skipped: style.gray,
  cached: style.cyan,
  cancelled: style.yellow,
};
const SPIN = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"];

function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)}s`;
  const m = Math.floor(ms / 60_000);
  return `${m}m${Math.round((ms % 60_000) / 1000)}s`;
}

/** A task's time in tables: "-" for one that did not run. */
export function shownDuration(ms: number): string {
  return ms ? formatDuration(ms) : "-";
}

function taskLabel(task: Task): string {
  return `${formatRef(task.ref)} ${style.dim(`[${task.stack}]`)}`;
}

export function createTerminalReporter(opts: TerminalOptions) {
  const github = process.env.GITHUB_ACTIONS === "true";
  const running = new Map<string, Task>();
  let done = 0;
  let frame = 0;
  let lineShown = false;
  // Live output that did not end with a newline: the next status line starts on a fresh line.
  let midLine = false;
  let timer: ReturnType<typeof setInterval> | undefined;

  const clearLine = () => {
    if (lineShown) writeStderr("\r\x1b[K");
    lineShown = false;
  };
  const drawLine = () => {
    if (!opts.tty || running.size === 0 || opts.live) return;
    const names = [...running.values()].map((t) => `${formatRef(t.ref)}@${t.stack}`);
    const cols = process.stderr.columns || 80;
    let text = `${SPIN[frame++ % SPIN.length]} [${done}/${opts.total}] ${names.join(", ")}`;
    if (text.length > cols - 1) text = text.slice(0, cols - 2) + "…";
    writeStderr(`\r\x1b[K${style.dim(text)}`);
    lineShown = true;
  };
  const print = (text: string) => {
    clearLine();
    if (midLine && text) text = `\n${text}`;
    midLine = false;
    opts.write(text);
    drawLine();
  };

  const events: SchedulerEvents = {
    start(task) {
      running.set(task.id, task);
      // In GitHub Actions each task's output folds into a ::group:: (closed in finish).
      if (opts.live && github) print(`::group::${formatRef(task.ref)} [${task.stack}]\n`);
      else if (opts.live) print(`${style.bold("▶")} ${taskLabel(task)}${task.reason ? style.dim(` (${task.reason})`) : ""}\n`);
      else if (!opts.tty)
        print(`${style.dim("started")} ${formatRef(task.ref)} [${task.stack}]${task.reason ? ` (${task.reason})` : ""}\n`);
      if (opts.tty && !timer && !opts.live) timer = setInterval(drawLine, 100);
      drawLine();
    },
    finish(r) {
      const started = running.delete(r.task.id);
      done++;
      // A failure without a reason says how the task's process ended.
      const reason = r.reason ?? (r.status === "failed" && r.exitCode ? `exit code ${r.exitCode}` : undefined);
      const head = `${COLOR[r.status](`${ICON[r.status]} ${r.status}${r.origin === "remote" ? " (remote)" : ""}`)} ${taskLabel(r.task)}${r.durationMs ? style.dim(` ${formatDuration(r.durationMs)}`) : ""}${reason ? style.dim(` — ${reason}`) : ""}\n`;
      let block = opts.live && github && started ? `::endgroup::\n${head}` : head;
      // Live mode streamed the output of what ran; a cached task's stored output shows as a block.
      const streamed = opts.live && r.status !== "cached";
      const showOutput = !streamed && r.output.trim() !== "" && (r.status === "failed" || opts.verbose || github);
      if (showOutput && github)
        block += `::group::output of ${formatRef(r.task.ref)} [${r.task.stack}]\n${redactText(r.output).replace(/\n*$/, "\n")}::endgroup::\n`;
      else if (showOutput) block += indentBlock(redactText(r.output)) + "\n";
      print(block);
      if (running.size === 0 && timer) {
        clearInterval(timer);
        timer = undefined;
        clearLine();
      }
    },
  };

  return {
    events,
    /** Live output of the single running task, already masked by the executor (execute.ts). */
    output(chunk: string) {
      if (!opts.live || !chunk) return;
      clearLine();
      opts.write(chunk);
      midLine = !chunk.endsWith("\n");
    },
    stop() {
      if (timer) clearInterval(timer);
      timer = undefined;
      clearLine();
    },
    summary(results: TaskResult[], elapsedMs: number) {
      print(renderSummary(results, elapsedMs));
    },
  };
}

function indentBlock(text: string): string {
  const lines = text.replace(/\n+$/, "").split("\n");
  return lines.map((l) => `${style.dim("│")} ${l}`).join("\n");
}

function renderSummary(results: TaskResult[], elapsedMs: number): string {
  if (results.length === 0) return "No tasks to run.\n";
  const rows = results.map((r) => [formatRef(r.task.ref), r.task.stack, r.status, shownDuration(r.durationMs)]);
  const head = ["TASK", "STACK", "STATUS", "TIME"];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const pad = (cells: string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i]!))
      .join("  ")
      .trimEnd();
  let out = `\n${style.bold(pad(head))}\n`;
  for (const [i, r] of rows.entries()) {
    const status = results[i]!.status;
    // Pad first, then colour the status cell: escape codes must not count towards the width.
    const cells = r.map((c, j) => (j === r.length - 1 ? c : c.padEnd(widths[j]!)));
    cells[2] = cells[2]!.replace(status, COLOR[status](status));
    out += cells.join("  ").trimEnd() + "\n";
  }
  const parts = statusCounts(results)
    .filter(([, n]) => n)
    .map(([s, n]) => COLOR[s](`${n} ${s}`));
  out += `\n${results.length} task${results.length === 1 ? "" : "s"}: ${parts.join(", ")} ${style.dim(`(${formatDuration(elapsedMs)})`)}\n`;
  return out;
}
