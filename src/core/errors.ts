// Error classes that carry their exit code, so the entry point can map any failure
// to the documented exit policy without inspecting messages.

export const EXIT = { ok: 0, failed: 1, usage: 2, interrupted: 130, terminated: 143 } as const;

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
