// Error classes that carry their exit code, so the entry point can map any failure
// to the documented exit policy without inspecting messages.

export const EXIT = { ok: 0, failed: 1, usage: 2, hangup: 129, interrupted: 130, terminated: 143 } as const;

/** The shell convention: 128 + the signal's number. */
export function signalExit(sig: NodeJS.Signals | undefined): number {
  return sig === "SIGTERM" ? EXIT.terminated : sig === "SIGHUP" ? EXIT.hangup : EXIT.interrupted;
}

/** A mistake the user can fix (bad config, unknown command, missing engine): exit 2, no stack. */
export class UserError extends Error {
  readonly exitCode: number = EXIT.usage;
  constructor(
    message: string,
    readonly hint?: string,
  ) {
    super(message);
    this.name = "UserError";
  }
}

/** The run completed but something the user asked for failed: exit 1. */
export class FailedError extends Error {
  readonly exitCode: number = EXIT.failed;
  constructor(
    message: string,
    readonly hint?: string,
  ) {
    super(message);
    this.name = "FailedError";
  }
}

/** dwf was stopped by a signal while it waited for something (an image build): exit 128 + n. */
export class InterruptedError extends Error {
  readonly exitCode: number;
  constructor(
    message: string,
    readonly signal: NodeJS.Signals,
  ) {
    super(message);
    this.name = "InterruptedError";
    this.exitCode = signalExit(signal);
  }
}
