// Reporting to GitHub: a commit status (`--report <context>`) through the REST API, and,
// inside GitHub Actions, a step-summary table and `::error` annotations for failed tasks.
import { appendFileSync, readFileSync } from "node:fs";
import { statusCounts, type TaskResult, type TaskStatus } from "../../core/scheduler.ts";
import type { RunReporter } from "../../core/execute.ts";
import { formatRef } from "../../sdk/command-ref.ts";
import { redactText } from "../../lib/redact.ts";
import { VERSION } from "../../lib/version.ts";
import { log } from "../../lib/log.ts";
import { shownDuration } from "../../report/terminal.ts";
import { writeStderr } from "../../lib/out.ts";

type Env = Record<string, string | undefined>;
type StatusState = "pending" | "success" | "failure" | "error";

function inGithubActions(env: Env = process.env): boolean {
  return env.GITHUB_ACTIONS === "true";
}

/** The commit to report on: a pull request's head (GITHUB_SHA is the merge commit there). */
function headSha(env: Env): string | undefined {
  if (env.GITHUB_EVENT_PATH) {
    try {
      const event = JSON.parse(readFileSync(env.GITHUB_EVENT_PATH, "utf8")) as { pull_request?: { head?: { sha?: unknown } } };
      const sha = event.pull_request?.head?.sha;
      if (typeof sha === "string" && /^[0-9a-f]{40,64}$/.test(sha)) return sha;
    } catch {
      // Unreadable event file: fall back to GITHUB_SHA.
    }
  }
  return env.GITHUB_SHA || undefined;
}

interface StatusRequest {
  url: string;
  body: { state: StatusState; context: string; description: string; target_url?: string };
}

/** The status API call for this environment, or a reason it cannot be made. */
export function statusRequest(env: Env, context: string, state: StatusState, description: string): StatusRequest | { skip: string } {
  if (!env.GITHUB_TOKEN) return { skip: "GITHUB_TOKEN is not set" };
  const repo = env.GITHUB_REPOSITORY;
  if (!repo || !/^[\w.-]+\/[\w.-]+$/.test(repo)) return { skip: "GITHUB_REPOSITORY is not set to owner/name" };
  const sha = headSha(env);
  if (!sha) return { skip: "no commit SHA (GITHUB_SHA or the pull request head)" };
  const api = (env.GITHUB_API_URL || "https://api.github.com").replace(/\/+$/, "");
  const body: StatusRequest["body"] = { state, context, description: description.slice(0, 140) };
  if (env.GITHUB_SERVER_URL && env.GITHUB_RUN_ID)
    body.target_url = `${env.GITHUB_SERVER_URL.replace(/\/+$/, "")}/${repo}/actions/runs/${env.GITHUB_RUN_ID}`;
  return { url: `${api}/repos/${repo}/statuses/${sha}`, body };
}

/** Post a commit status. Never throws: a reporting problem must not change the run's result. */
async function postStatus(env: Env, context: string, state: StatusState, description: string): Promise<boolean> {
  const req = statusRequest(env, context, state, description);
  if ("skip" in req) {
    log.debug(`GitHub status '${context}' not posted: ${req.skip}.`);
    return false;
  }
  try {
    const { ofetch } = await import("ofetch");
    await ofetch(req.url, {
      method: "POST",
      body: req.body,
      retry: 0,
      timeout: 10_000,
      headers: {
        Authorization: `Bearer ${env.GITHUB_TOKEN}`,
        Accept: "application/vnd.github+json",
        "X-GitHub-Api-Version": "2022-11-28",
        "User-Agent": `dwf/${VERSION}`,
      },
    });
    log.debug(`GitHub status '${context}': ${state}`);
    return true;
  } catch (e) {
    const err = e as { status?: number; statusText?: string; message?: string };
    const why = err.status ? `HTTP ${err.status}${err.statusText ? ` ${err.statusText}` : ""}` : (err.message ?? String(e));
    log.warn(
      redactText(
        `could not post GitHub status '${context}' (${state}): ${why}. The run's result is unaffected.`,
        env.GITHUB_TOKEN ? [env.GITHUB_TOKEN] : [],
      ),
    );
    return false;
  }
}

const EMOJI: Record<TaskStatus, string> = { passed: "✅", failed: "❌", skipped: "⚪", cached: "💾", cancelled: "⏹️" };

function counts(results: TaskResult[]): string {
  return statusCounts(results)
    .filter(([, n]) => n)
    .map(([s, n]) => `${n} ${s}`)
    .join(", ");
}

function statusDescription(results: TaskResult[], exitCode: number): string {
  if (exitCode >= 128) return "interrupted";
  return results.length ? counts(results) : "no tasks";
}

export function stateFor(exitCode: number): StatusState {
  return exitCode === 0 ? "success" : exitCode === 1 ? "failure" : "error";
}

function cell(text: string): string {
  return text.replaceAll("|", "\\|").replaceAll("\n", " ");
}

/** Markdown for $GITHUB_STEP_SUMMARY. */
export function summaryMarkdown(title: string, results: TaskResult[], exitCode: number): string {
  let md = `### ${exitCode === 0 ? "✅" : "❌"} dwf ${cell(title)}\n\n| Task | Stack | Status | Time |\n|---|---|---|---:|\n`;
  for (const r of results) {
    md += `| \`${formatRef(r.task.ref)}\` | ${cell(r.task.stack)} | ${EMOJI[r.status]} ${r.status}${r.origin === "remote" ? " (remote)" : ""}${r.reason ? ` — ${cell(r.reason)}` : ""} | ${shownDuration(r.durationMs)} |\n`;
  }
  return md + `\n${results.length} task${results.length === 1 ? "" : "s"}: ${counts(results) || "none"}\n\n`;
}

// Workflow-command escaping, as GitHub's runner expects it.
function escapeData(s: string): string {
  return s.replaceAll("%", "%25").replaceAll("\r", "%0D").replaceAll("\n", "%0A");
}
function escapeProperty(s: string): string {
  return escapeData(s).replaceAll(":", "%3A").replaceAll(",", "%2C");
}

/** `::error` lines for failed tasks, carrying the tail of their output. */
export function annotations(results: TaskResult[]): string {
  let out = "";
  for (const r of results) {
    if (r.status !== "failed") continue;
    const name = `${formatRef(r.task.ref)} [${r.task.stack}]`;
    const tail = redactText(r.output).replace(/\n+$/, "").split("\n").slice(-20).join("\n");
    const head = `dwf ${name} failed${r.exitCode !== undefined ? ` (exit code ${r.exitCode})` : ""}${r.reason ? `: ${r.reason}` : ""}`;
    out += `::error title=${escapeProperty(`dwf ${name}`)}::${escapeData(tail ? `${head}\n${tail}` : head)}\n`;
  }
  return out;
}

/** GitHub reporting for the run flow: the commit status (--report), annotations and the step summary. */
export function githubReporter(env: Env = process.env): RunReporter {
  return {
    started: async (ctx) => {
      if (ctx.report) await postStatus(env, ctx.report, "pending", `dwf ${ctx.title} running`);
    },
    finished: async (ctx) => {
      if (inGithubActions(env)) {
        // Annotations go to stderr so --json output on stdout stays parseable; the runner reads both.
        writeStderr(annotations(ctx.results));
        if (env.GITHUB_STEP_SUMMARY) {
          try {
            appendFileSync(env.GITHUB_STEP_SUMMARY, summaryMarkdown(ctx.title, ctx.results, ctx.exitCode));
          } catch (e) {
            log.warn(`could not write the step summary to ${env.GITHUB_STEP_SUMMARY}: ${(e as Error).message}`);
          }
        }
      }
      if (ctx.report) await postStatus(env, ctx.report, stateFor(ctx.exitCode), statusDescription(ctx.results, ctx.exitCode));
    },
  };
}
