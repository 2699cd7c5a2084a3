// Top-level help, grouped by purpose. Plain text built without loading any command module.
import { VERSION } from "../lib/version.ts";

export function topLevelHelp(): string {
  return `dwf ${VERSION} — run a project's quality gate the same way on a laptop and in CI

Usage: dwf <command> [options]

Run checks
  verify [profile]           Run a target profile from devflow.toml (default: pr);
                             same as 'dwf check:<profile>'
  <primary>[:<selector>]     Run one canonical command on every applicable stack;
  <primary> <selector>       primaries: setup fmt lint build test package check release
                             defaults: fmt→check lint→static build→debug test→unit
                             package→artifact check→pr
  warm <command…>            Prepare build outputs the commands need later (CI's
                             warm job): their stacks' warm actions, not the commands

Set up
  init [stack…]              Write devflow.toml and Dockerfile.devflow for this repository
  doctor [profile]           Check the tools, engine, cache and config a profile needs
                             (setup:doctor); exit 1 when something needed is missing

Containers
  fingerprint                Print the environment fingerprint (--explain, --json)
  image [build]              Show or build the fingerprinted container image
  shell [-- cmd…]            Open a shell in the same container a task gets

CI
  ci generate|check|plan     Write, check or explain the GitHub Actions workflow

Maintenance
  cache info|prune           Show or clean dwf's caches (prune:cache --local)
  upgrade                    Replace this binary with the latest release

Options for commands that run tasks
  --config <path>            devflow.toml to use (default: nearest one upwards)
  --profile <p>              Runtime profile: host, container or auto
  -j, --jobs <n>             Tasks to run at once (default: CPU count)
  --fail-fast                Stop at the first failure
  -n, --dry-run              Print the plan; run nothing
  --no-cache                 Ignore cached task results
  --no-install               Do not install missing or stale dependencies first
  --report <context>         Post a GitHub commit status under this context
  --remote-cache <mode>      Remote task cache: off, read or readwrite
  --explain                  Say for each task whether its result is shared, and why
  --json                     Machine-readable result on stdout
  -V, --verbose              Show every task's output

  -h, --help                 Help for dwf or a command ('dwf verify --help')
  -v, --version              Print the version

Examples
  dwf verify                 Run the pr profile
  dwf verify main --jobs 4   Run the main profile, four tasks at once
  dwf test:unit              Unit tests for every stack in the project
  dwf fmt fix                Format the code
  dwf verify --dry-run       Show what would run, and in which order
  DWF_LOG=debug dwf verify   Print every command line dwf runs

Environment
  DWF_LOG=debug              Trace every command line (secrets redacted)
  DWF_PROFILE, DWF_ENGINE    Override [runtime] profile and [container] engine
  DWF_CACHE_ROOT             Cache directory (default: .cache/devflow)

Exit codes: 0 passed, 1 a task failed, 2 usage or configuration error, 130 interrupted (143 on SIGTERM, 129 on SIGHUP).
`;
}
